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

/** Words never masked whatever their source (Airflow never masks `airflow`). */
const NEVER_MASKED = new Set(['airflow']);

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A string's UTF-8 bytes as a latin1 string: one char per byte, so binary streams survive. */
export function toByteString(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

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
  /** Every registered secret in every encoding, as UTF-8 byte strings. */
  readonly #variants = new Set<string>();
  #pattern: RegExp | null = null;
  #maxLength = 0;

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
    if (options.minLength !== undefined) this.#minLength = options.minLength;
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
    for (const variant of this.#variants) copy.#variants.add(variant);
    copy.#maxLength = this.#maxLength;
    return copy;
  }

  /** How many distinct strings (all encodings) are registered. */
  get size(): number {
    return this.#variants.size;
  }

  /** The longest registered form, in bytes (how much a stream holds back at most). */
  get maxLength(): number {
    return this.#maxLength;
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
    if (secret.length < this.#minLength || NEVER_MASKED.has(secret.toLowerCase())) return;
    const forms = new Set<string>([
      secret,
      quote(secret),
      quotePlus(secret),
      encodeURIComponent(secret),
      ...jsonForms(secret),
      ...base64Variants(secret),
    ]);
    let changed = false;
    for (const form of forms) {
      // A form shorter than the minimum (a short base64 middle) would over-mask.
      if (form.length < this.#minLength) continue;
      const bytes = toByteString(form);
      if (this.#variants.has(bytes)) continue;
      this.#variants.add(bytes);
      this.#maxLength = Math.max(this.#maxLength, bytes.length);
      changed = true;
    }
    if (changed) this.#pattern = null;
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

  #regex(): RegExp | null {
    if (this.#variants.size === 0) return null;
    if (!this.#pattern) {
      // Longest first, so that a secret containing another is masked whole.
      const alternatives = [...this.#variants]
        .sort((a, b) => b.length - a.length)
        .map(escapeRegExp);
      this.#pattern = new RegExp(alternatives.join('|'), 'g');
    }
    return this.#pattern;
  }

  /** `text` with every registered secret (in every encoding) replaced by `***`. */
  redact(text: string): string {
    const pattern = this.#regex();
    if (!pattern) return text;
    return Buffer.from(this.redactBytes(toByteString(text)), 'latin1').toString('utf8');
  }

  /** Like {@link redact}, over a latin1 byte string (for binary streams). */
  redactBytes(bytes: string): string {
    const pattern = this.#regex();
    if (!pattern) return bytes;
    pattern.lastIndex = 0;
    return bytes.replace(pattern, MASK);
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
   * Splits a chunk of a byte stream into what can be written now (redacted) and what must be
   * held back because it may be the beginning of a secret whose rest has not arrived yet.
   * With `final`, nothing is held back.
   */
  redactStreamChunk(bytes: string, final: boolean): { out: string; held: string } {
    const pattern = this.#regex();
    if (!pattern) return { out: bytes, held: '' };
    let cut = final ? bytes.length : this.#holdFrom(bytes, 0);
    let out = '';
    let pos = 0;
    pattern.lastIndex = 0;
    for (let m = pattern.exec(bytes); m !== null; m = pattern.exec(bytes)) {
      const start = m.index;
      const end = start + m[0].length;
      // A match at or after the cut may be the prefix of a longer secret: decide next time.
      if (start >= cut) break;
      out += bytes.slice(pos, start) + MASK;
      pos = end;
      if (end > cut) cut = final ? bytes.length : this.#holdFrom(bytes, end);
    }
    if (cut > pos) out += bytes.slice(pos, cut);
    return { out, held: bytes.slice(Math.max(cut, pos)) };
  }

  /** The first index ≥ `start` whose tail is a proper prefix of a registered form. */
  #holdFrom(bytes: string, start: number): number {
    const from = Math.max(start, bytes.length - this.#maxLength + 1);
    for (let i = from; i < bytes.length; i++) {
      const tail = bytes.slice(i);
      for (const variant of this.#variants) {
        if (variant.length > tail.length && variant.startsWith(tail)) return i;
      }
    }
    return bytes.length;
  }
}
