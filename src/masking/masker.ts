/**
 * @module masking/masker
 * The secrets masker: Airflow's `SecretsMasker`, extended to the encodings a secret takes on its
 * way to a log (URL-encoding, JSON escaping, base64) and to streams that split a secret across
 * chunks.
 *
 * What gets registered follows Airflow's `mask_secret(value, name)`: a string with no name, or
 * with a sensitive name, is registered; objects are walked and each value registered under its
 * own key; lists under their parent's name. Strings shorter than `minLength` (Airflow 3's
 * `min_length_masked_secret`, 5) and the word `airflow` are never masked: masking them would
 * shred every log line without protecting anything.
 */
import { quote, quotePlus } from '../model/connection-uri.ts';
import { ByteMatcher } from './matcher.ts';
import { isSensitiveName } from './sensitive-keys.ts';

/** What replaces a secret. */
export const MASK = '***';

/** Options of {@link SecretsMasker}. */
export interface SecretsMaskerOptions {
  /**
   * Strings shorter than this are never registered.
   * @default 5
   */
  minLength?: number;
  /** Extra sensitive words (`sensitive_var_conn_names`). @default [] */
  sensitiveWords?: readonly string[];
  /**
   * When false, names are never treated as sensitive (`hide_sensitive_var_conn_fields=False`):
   * only values registered without a name are masked.
   * @default true
   */
  hideSensitive?: boolean;
}

const MASK_BYTES = Buffer.from(MASK);
const EMPTY = Buffer.alloc(0);

/** Words never masked whatever their source (Airflow never masks `airflow`). */
const NEVER_MASKED = new Set(['airflow']);

/**
 * The stable middle of `bytes`' base64 form at each of the three byte alignments it can have
 * inside a longer base64 text (the first and last characters depend on the neighbours).
 */
function base64Variants(value: string): string[] {
  const out: string[] = [];
  const bytes = Buffer.from(value, 'utf8');
  for (let offset = 0; offset < 3; offset++) {
    const padded = Buffer.concat([Buffer.alloc(offset), bytes]);
    const encoded = padded.toString('base64');
    // Characters fully determined by the value's own bytes: skip the ones mixed with the
    // prefix, and the trailing partial group mixed with what follows.
    const start = Math.ceil((offset * 4) / 3);
    const end = Math.floor(((offset + bytes.length) * 4) / 3);
    const middle = encoded.slice(start, end);
    out.push(middle, middle.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return out;
}

/** `text` JSON-escaped as Python's `json.dumps` writes it (`ensure_ascii`): non-ASCII as `\uXXXX`. */
function jsonAsciiEscaped(text: string, upper: boolean): string {
  return JSON.stringify(text)
    .slice(1, -1)
    .replace(/[\u0080-\uffff]/g, (ch) => {
      const hex = ch.charCodeAt(0).toString(16).padStart(4, '0');
      return `\\u${upper ? hex.toUpperCase() : hex}`;
    });
}

/**
 * The JSON-escaped forms of `text`: as `JSON.stringify` writes it, as Python's `json.dumps`
 * writes it (non-ASCII as `\uXXXX`, lower-case hex, and the upper-case hex other encoders
 * write), and each with `/` escaped as `\/` (PHP, some Java and Go encoders).
 */
function jsonForms(text: string): string[] {
  const plain = JSON.stringify(text).slice(1, -1);
  const ascii = [jsonAsciiEscaped(text, false), jsonAsciiEscaped(text, true)];
  return [plain, ...ascii, ...[plain, ...ascii].map((f) => f.replace(/\//g, '\\/'))];
}

/**
 * Registers secrets and redacts them from text, byte strings and structures.
 *
 * @example
 * ```ts
 * const masker = new SecretsMasker();
 * masker.add('s3cr3t-value');
 * masker.redact('token=s3cr3t-value'); // 'token=***'
 * ```
 */
export class SecretsMasker {
  #minLength: number;
  #words: readonly string[];
  #hideSensitive: boolean;
  /** Every registered secret in every encoding, as UTF-8 bytes. */
  #matcher = new ByteMatcher();
  /** The secrets whose every form is registered: registering one again costs a lookup. */
  #secrets = new Set<string>();

  constructor(options: SecretsMaskerOptions = {}) {
    this.#minLength = options.minLength ?? 5;
    this.#words = options.sensitiveWords ?? [];
    this.#hideSensitive = options.hideSensitive ?? true;
  }

  /**
   * Changes the options for what is registered from now on (the CLI creates its masker before
   * it reads the configuration, so that even a configuration error is printed through it).
   */
  configure(options: SecretsMaskerOptions): void {
    if (options.minLength !== undefined && options.minLength !== this.#minLength) {
      this.#minLength = options.minLength;
      // Which forms a secret registers depends on the minimum: registering it again re-counts.
      this.#secrets.clear();
    }
    if (options.sensitiveWords !== undefined) this.#words = options.sensitiveWords;
    if (options.hideSensitive !== undefined) this.#hideSensitive = options.hideSensitive;
  }

  /**
   * A new masker with this one's options and everything registered so far; what either
   * registers later stays its own (a supervisor gives each child process one).
   */
  fork(): SecretsMasker {
    const copy = new SecretsMasker({
      minLength: this.#minLength,
      sensitiveWords: this.#words,
      hideSensitive: this.#hideSensitive,
    });
    copy.#matcher = this.#matcher.clone();
    copy.#secrets = new Set(this.#secrets);
    return copy;
  }

  /** How many distinct strings (all encodings) are registered. */
  get size(): number {
    return this.#matcher.size;
  }

  /** The longest registered form, in bytes (how much a stream holds back at most). */
  get maxLength(): number {
    return this.#matcher.maxLength;
  }

  /** Whether `name` is sensitive under this masker's settings. */
  isSensitive(name: string): boolean {
    return this.#hideSensitive && isSensitiveName(name, this.#words);
  }

  /**
   * Registers `value` as Airflow's `mask_secret(value, name)` does: a string is registered when
   * it has no name or a sensitive one; an object's values are registered under their own keys
   * (a value under a sensitive key is registered whole, whatever its inner keys); a list's
   * items under the list's name.
   */
  add(value: unknown, name?: string): void {
    this.#walk(value, name, name !== undefined && this.isSensitive(name));
  }

  /** Registers a string unconditionally (a password, a value served by an external store). */
  addSecret(secret: string): void {
    if (this.#secrets.has(secret)) return;
    if (secret.length < this.#minLength || NEVER_MASKED.has(secret.toLowerCase())) return;
    this.#secrets.add(secret);
    const forms = new Set<string>([
      secret,
      quote(secret),
      quotePlus(secret),
      encodeURIComponent(secret),
      ...jsonForms(secret),
      ...base64Variants(secret),
    ]);
    for (const form of forms) {
      // A form shorter than the minimum (a short base64 middle) would over-mask.
      if (form.length < this.#minLength) continue;
      this.#matcher.add(Buffer.from(form, 'utf8'));
    }
  }

  #walk(value: unknown, name: string | undefined, sensitive: boolean): void {
    if (typeof value === 'string') {
      if (name === undefined || sensitive) this.addSecret(value);
      return;
    }
    if (Array.isArray(value)) {
      for (const item of value) this.#walk(item, name, sensitive);
      return;
    }
    if (value !== null && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        const innerSensitive = sensitive || this.isSensitive(key);
        // Airflow registers dict values under their own key: non-sensitive ones stay visible.
        if (typeof inner === 'string') {
          if (innerSensitive) this.addSecret(inner);
        } else {
          this.#walk(inner, key, innerSensitive);
        }
      }
    }
  }

  /**
   * Masks `bytes`: the output, the bytes held back (a stream's tail that may begin a secret
   * whose rest has not arrived; none with `final`), and whether anything was masked.
   */
  #mask(bytes: Buffer, final: boolean): { out: Buffer; held: Buffer; masked: boolean } {
    const parts: Buffer[] = [];
    let pos = 0;
    const cut = this.#matcher.scan(bytes, final, (start, end) => {
      parts.push(bytes.subarray(pos, start), MASK_BYTES);
      pos = end;
    });
    const held = bytes.subarray(Math.max(cut, pos));
    if (parts.length === 0) return { out: bytes.subarray(0, cut), held, masked: false };
    parts.push(bytes.subarray(pos, Math.max(cut, pos)));
    return { out: Buffer.concat(parts), held, masked: true };
  }

  /** `text` with every registered secret (in every encoding) replaced by `***`. */
  redact(text: string): string {
    if (this.#matcher.size === 0) return text;
    const { out, masked } = this.#mask(Buffer.from(text, 'utf8'), true);
    return masked ? out.toString('utf8') : text;
  }

  /** Like {@link redact}, over a latin1 byte string (one char per byte). */
  redactBytes(bytes: string): string {
    if (this.#matcher.size === 0) return bytes;
    const { out, masked } = this.#mask(Buffer.from(bytes, 'latin1'), true);
    return masked ? out.toString('latin1') : bytes;
  }

  /**
   * A deep copy of `value` in which strings under sensitive keys are `***` and every other
   * string has registered secrets replaced (Airflow's `redact`). Non-string leaves are kept.
   */
  redactValue<T>(value: T, name?: string): T {
    const walk = (v: unknown, sensitive: boolean, depth: number): unknown => {
      if (typeof v === 'string') return sensitive ? MASK : this.redact(v);
      if (depth > 64) return '<redaction-failed>';
      if (Array.isArray(v)) return v.map((item) => walk(item, sensitive, depth + 1));
      if (v instanceof Error) return this.redact(v.message);
      if (v !== null && typeof v === 'object') {
        const out: Record<string, unknown> = {};
        for (const [k, inner] of Object.entries(v)) {
          out[k] = walk(inner, sensitive || this.isSensitive(k), depth + 1);
        }
        return out;
      }
      return v;
    };
    return walk(value, name !== undefined && this.isSensitive(name), 0) as T;
  }

  /**
   * Splits a chunk of a byte stream into what can be written now (masked) and what must be
   * held back because it may be the beginning of a secret whose rest has not arrived yet.
   * With `final`, nothing is held back. Feed the held bytes back in front of the next chunk.
   */
  redactChunk(bytes: Buffer, final: boolean): { out: Buffer; held: Buffer } {
    if (this.#matcher.size === 0) return { out: bytes, held: EMPTY };
    const { out, held } = this.#mask(bytes, final);
    return { out, held };
  }

  /** Like {@link redactChunk}, over latin1 byte strings. */
  redactStreamChunk(bytes: string, final: boolean): { out: string; held: string } {
    const { out, held } = this.redactChunk(Buffer.from(bytes, 'latin1'), final);
    return { out: out.toString('latin1'), held: held.toString('latin1') };
  }
}
