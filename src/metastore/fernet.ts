/**
 * @module metastore/fernet
 * Fernet tokens, byte-compatible with Python's `cryptography.fernet` (and so with Airflow's
 * `[core] fernet_key`), built on `node:crypto` alone.
 *
 * A token is url-safe base64 (with `=` padding, as Python emits it) of
 * `0x80 ‖ timestamp (u64 BE, seconds) ‖ IV (16 bytes) ‖ AES-128-CBC(PKCS7(plaintext)) ‖ HMAC-SHA256`,
 * where the HMAC covers everything before it. The 32-byte key splits into a signing key (first 16
 * bytes) and an encryption key (last 16 bytes).
 *
 * Decoding is deliberately *stricter* than Python's: Python's base64 decoder silently drops
 * characters outside the alphabet (spaces, newlines) and ignores data after the padding, while
 * airlock accepts only canonical url-safe base64 with correct padding. Everything airlock accepts,
 * Python accepts too; tokens and keys that Python emits are always canonical.
 *
 * No message produced here ever contains a key, a token or a plaintext.
 */

import {
  createCipheriv,
  createDecipheriv,
  type Decipheriv,
  hash,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { AirlockError } from '../errors.ts';

/** The version byte every Fernet token starts with. */
const VERSION = 0x80;
/** Bytes of version (1) + timestamp (8) + IV (16). */
const HEADER_LENGTH = 25;
const IV_LENGTH = 16;
const HMAC_LENGTH = 32;
const BLOCK_LENGTH = 16;
/** SHA-256's block: HMAC pads its key to it. */
const SHA256_BLOCK_LENGTH = 64;
/** Python's `cryptography.fernet._MAX_CLOCK_SKEW`: how far in the future a token may be dated. */
const MAX_CLOCK_SKEW_SECONDS = 60;
const MAX_U64 = 0xffff_ffff_ffff_ffffn;

const KEY_INVALID_MESSAGE = 'Fernet key must be 32 url-safe base64-encoded bytes';

/** Options of {@link Fernet.encrypt}. */
export interface FernetEncryptOptions {
  /**
   * The token's timestamp, in whole seconds since the Unix epoch (fractions are dropped), as
   * Python's `encrypt_at_time` takes it. Not milliseconds.
   * @default Math.floor(Date.now() / 1000)
   */
  now?: number;
  /**
   * The 16-byte IV; only tests and spec vectors should set it.
   * @default 16 random bytes
   */
  iv?: Uint8Array;
}

/** Options of {@link Fernet.decrypt}. */
export interface FernetDecryptOptions {
  /**
   * Reject tokens older than this many seconds, and (as Python does) tokens dated more than 60 s
   * in the future. Without it, the timestamp is not checked at all, exactly like Python's
   * `decrypt(token)` with `ttl=None`.
   * @default undefined (no age check)
   */
  ttlSeconds?: number;
  /**
   * The current time, in seconds since the Unix epoch, for the TTL check.
   * @default Math.floor(Date.now() / 1000)
   */
  now?: number;
}

/** The parts of a token that can be read before its HMAC is checked. */
interface UnverifiedToken {
  readonly data: Buffer;
  readonly timestamp: bigint;
}

let decryptParts: (fernet: Fernet, parts: UnverifiedToken, opts: FernetDecryptOptions) => Buffer;
let encryptParts: (
  fernet: Fernet,
  plaintext: Uint8Array,
  timestamp: bigint,
  iv: Uint8Array,
) => string;

/** A failed token, with a reason that never includes the token itself. */
function tokenError(reason: string): AirlockError {
  return new AirlockError('AIRLOCK_ERR_CRYPTO_TOKEN_INVALID', `Fernet token is invalid: ${reason}`);
}

/**
 * Decodes canonical url-safe base64 with `=` padding; `undefined` when the text is not that.
 * Node's own decoder skips bad characters instead of failing, hence the explicit check.
 */
function decodeUrlSafeBase64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9_-]*={0,2}$/.test(text)) return undefined;
  return Buffer.from(text, 'base64url');
}

/** Url-safe base64 *with* padding, as Python's `base64.urlsafe_b64encode` writes it. */
function encodeUrlSafeBase64(bytes: Uint8Array): string {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
  return text + '='.repeat((4 - (text.length % 4)) % 4);
}

/** IVs are cut from a larger CSPRNG draw: one `randomBytes` call per IV is the slow part of a bulk import. */
const IV_POOL_SIZE = IV_LENGTH * 256;
let ivPool = Buffer.alloc(0);
let ivOffset = 0;

/** A fresh random IV (16 bytes of the CSPRNG, never handed out twice). */
function freshIv(): Buffer {
  if (ivOffset + IV_LENGTH > ivPool.length) {
    ivPool = randomBytes(IV_POOL_SIZE);
    ivOffset = 0;
  }
  const iv = Buffer.from(ivPool.subarray(ivOffset, ivOffset + IV_LENGTH));
  // Used bytes are wiped from the pool at once.
  ivPool.fill(0, ivOffset, ivOffset + IV_LENGTH);
  ivOffset += IV_LENGTH;
  return iv;
}

/**
 * HMAC-SHA256 (RFC 2104) over Node's one-shot SHA-256, with the key's inner and outer pads
 * computed once. `createHmac` gives the same bytes, but on Node 24 with OpenSSL 3 each HMAC object
 * costs some 18 µs to set up (it fetches the algorithm anew), which dominated reading a short
 * value; two one-shot digests cost a few µs. The test suite checks it against `createHmac`.
 */
class HmacSha256 {
  readonly #inner: Buffer;
  readonly #outer: Buffer;

  constructor(key: Buffer) {
    if (key.length > SHA256_BLOCK_LENGTH) throw new RangeError('an HMAC key longer than a block');
    this.#inner = Buffer.alloc(SHA256_BLOCK_LENGTH, 0x36);
    this.#outer = Buffer.alloc(SHA256_BLOCK_LENGTH, 0x5c);
    for (let i = 0; i < key.length; i++) {
      this.#inner[i] = (this.#inner[i] as number) ^ (key[i] as number);
      this.#outer[i] = (this.#outer[i] as number) ^ (key[i] as number);
    }
  }

  digest(data: Uint8Array): Buffer {
    const inner = hash('sha256', Buffer.concat([this.#inner, data]), 'buffer') as Buffer;
    return hash('sha256', Buffer.concat([this.#outer, inner]), 'buffer') as Buffer;
  }
}

/**
 * AES-128-CBC decryption (NIST SP 800-38A: P_i = D_K(C_i) XOR C_{i-1}, C_0 = IV) with one
 * long-lived AES block decipher per key: setting up a `createDecipheriv` costs some 20 µs on
 * OpenSSL 3, the block decryption itself a fraction of one. Blocks only, no padding (the caller
 * unpads); used after the token's HMAC has been checked. The test suite checks it against
 * `createDecipheriv('aes-128-cbc')`.
 */
class AesCbcDecipher {
  readonly #blocks: Decipheriv;

  constructor(key: Buffer) {
    this.#blocks = createDecipheriv('aes-128-ecb', key, null);
    this.#blocks.setAutoPadding(false);
  }

  /** The plaintext blocks of `ciphertext` (whole blocks) under `iv`. */
  decrypt(iv: Uint8Array, ciphertext: Uint8Array): Buffer {
    const out = this.#blocks.update(ciphertext);
    if (out.length !== ciphertext.length) throw tokenError('its ciphertext could not be decrypted');
    for (let i = 0; i < out.length; i++) {
      const previous = i < BLOCK_LENGTH ? iv[i] : ciphertext[i - BLOCK_LENGTH];
      out[i] = (out[i] as number) ^ (previous as number);
    }
    return out;
  }
}

/** Whole seconds for a caller's `now`, or the clock; a bad value is a programming error. */
function toSeconds(now: number | undefined, name: string): bigint {
  const value = now ?? Date.now() / 1000;
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative number of seconds since the Unix epoch`);
  }
  const seconds = BigInt(Math.floor(value));
  if (seconds > MAX_U64) throw new RangeError(`${name} does not fit in a 64-bit Fernet timestamp`);
  return seconds;
}

/** Splits a token into its bytes and timestamp, checking only what needs no key. */
function readUnverifiedToken(token: string): UnverifiedToken {
  if (typeof token !== 'string') throw tokenError('it is not a string');
  const data = decodeUrlSafeBase64(token);
  if (data === undefined) throw tokenError('it is not url-safe base64');
  if (data.length === 0 || data[0] !== VERSION) throw tokenError('unknown version');
  // Python reads the timestamp from 9 bytes on; anything shorter than header + one block + HMAC
  // fails its HMAC or padding check, so it is rejected here with a clearer reason.
  if (data.length < HEADER_LENGTH + BLOCK_LENGTH + HMAC_LENGTH) throw tokenError('it is too short');
  return { data, timestamp: data.readBigUInt64BE(1) };
}

/** Decodes UTF-8 as Python's `bytes.decode()` does: strictly, keeping a leading BOM. */
function decodeUtf8(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw tokenError('its plaintext is not UTF-8 text');
  }
}

/**
 * One Fernet key: encrypts and decrypts tokens exactly as Python's `cryptography.fernet.Fernet`.
 *
 * The key material lives in `#private` buffers (copies of the key's halves, never handed out), so
 * it shows up in no `console.log`,
 * `JSON.stringify` or error.
 *
 * @example
 * ```ts
 * const fernet = new Fernet(Fernet.generateKey());
 * const token = fernet.encrypt('s3cr3t');
 * fernet.decryptToString(token); // 's3cr3t'
 * ```
 */
export class Fernet {
  // Raw bytes rather than `KeyObject`s: Node reads a `KeyObject`'s slots on every HMAC and
  // cipher it makes, a cost that dominated a decrypt of a short value.
  readonly #signingKey: Buffer;
  readonly #encryptionKey: Buffer;
  readonly #mac: HmacSha256;
  readonly #decipher: AesCbcDecipher;

  /**
   * @param key 32 bytes in url-safe base64 with padding (44 characters), as
   *   {@link Fernet.generateKey} and Python's `Fernet.generate_key()` make them.
   * @throws AirlockError `AIRLOCK_ERR_CRYPTO_KEY_INVALID` when the key is anything else; the
   *   message does not repeat the key.
   */
  constructor(key: string) {
    const bytes = typeof key === 'string' ? decodeUrlSafeBase64(key) : undefined;
    if (bytes?.length !== 32)
      throw new AirlockError('AIRLOCK_ERR_CRYPTO_KEY_INVALID', KEY_INVALID_MESSAGE);
    this.#signingKey = Buffer.from(bytes.subarray(0, 16));
    this.#encryptionKey = Buffer.from(bytes.subarray(16));
    this.#mac = new HmacSha256(this.#signingKey);
    this.#decipher = new AesCbcDecipher(this.#encryptionKey);
    bytes.fill(0);
  }

  /**
   * A new random key (32 bytes from the CSPRNG, url-safe base64 with padding).
   *
   * @example
   * ```ts
   * const key = Fernet.generateKey(); // e.g. 'cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4='
   * ```
   */
  static generateKey(): string {
    return encodeUrlSafeBase64(randomBytes(32));
  }

  /**
   * A key for another purpose, derived from this key with HKDF-SHA256 (`info` names the purpose):
   * one configured key serves both, and the derived key reveals nothing of this one.
   *
   * @example
   * ```ts
   * const jwtKey = new Fernet(key).deriveKey('airlock jwt v1'); // 32 bytes
   * ```
   */
  deriveKey(info: string, length = 32): Buffer {
    const ikm = Buffer.concat([this.#signingKey, this.#encryptionKey]);
    try {
      return Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), info, length));
    } finally {
      ikm.fill(0);
    }
  }

  /**
   * Encrypts `data` (a string is encoded as UTF-8) into a token.
   *
   * @example
   * ```ts
   * const token = new Fernet(key).encrypt('hello'); // 'gAAAAA…=='
   * ```
   */
  encrypt(data: string | Uint8Array, opts: FernetEncryptOptions = {}): string {
    const plaintext = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const iv = opts.iv ?? freshIv();
    if (iv.length !== IV_LENGTH) throw new RangeError(`iv must be ${IV_LENGTH} bytes`);
    return this.#encryptParts(plaintext, toSeconds(opts.now, 'now'), iv);
  }

  /**
   * Decrypts a token into its plaintext bytes.
   *
   * @throws AirlockError `AIRLOCK_ERR_CRYPTO_TOKEN_INVALID` when the token is malformed, was made
   *   with another key, has expired under `ttlSeconds`, or is dated too far in the future.
   * @example
   * ```ts
   * const bytes = fernet.decrypt(token, { ttlSeconds: 3600 });
   * ```
   */
  decrypt(token: string, opts: FernetDecryptOptions = {}): Buffer {
    return this.#decryptParts(readUnverifiedToken(token), opts);
  }

  /**
   * Decrypts a token whose plaintext is UTF-8 text (as every Airflow value is).
   *
   * @throws AirlockError `AIRLOCK_ERR_CRYPTO_TOKEN_INVALID` as {@link Fernet.decrypt} does, and
   *   when the plaintext is not valid UTF-8.
   * @example
   * ```ts
   * fernet.decryptToString(fernet.encrypt('héllo')); // 'héllo'
   * ```
   */
  decryptToString(token: string, opts: FernetDecryptOptions = {}): string {
    return decodeUtf8(this.decrypt(token, opts));
  }

  /**
   * The token's timestamp in seconds since the Unix epoch, after checking its HMAC (as Python's
   * `extract_timestamp` does).
   *
   * @throws AirlockError `AIRLOCK_ERR_CRYPTO_TOKEN_INVALID` when the token is malformed or was made
   *   with another key.
   * @example
   * ```ts
   * fernet.extractTimestamp(fernet.encrypt('x', { now: 499162800 })); // 499162800
   * ```
   */
  extractTimestamp(token: string): number {
    const parts = readUnverifiedToken(token);
    this.#verifySignature(parts.data);
    return Number(parts.timestamp);
  }

  static {
    // "Friend" access for MultiFernet, which splits a token once for all its keys and whose
    // rotate must keep the original timestamp; neither belongs in Fernet's public API.
    decryptParts = (fernet, parts, opts) => fernet.#decryptParts(parts, opts);
    encryptParts = (fernet, plaintext, timestamp, iv) =>
      fernet.#encryptParts(plaintext, timestamp, iv);
  }

  /** Checks time (only under a TTL) and HMAC, then decrypts already split token parts. */
  #decryptParts(parts: UnverifiedToken, opts: FernetDecryptOptions): Buffer {
    const { data, timestamp } = parts;
    if (opts.ttlSeconds !== undefined) {
      if (!Number.isFinite(opts.ttlSeconds))
        throw new RangeError('ttlSeconds must be a finite number');
      const now = Number(toSeconds(opts.now, 'now'));
      const issued = Number(timestamp);
      // Same checks and order as Python's `_decrypt_data`: both only run under a TTL.
      if (issued + opts.ttlSeconds < now) throw tokenError('it has expired');
      if (now + MAX_CLOCK_SKEW_SECONDS < issued) throw tokenError('it is dated in the future');
    }
    this.#verifySignature(data);
    const ciphertext = data.subarray(HEADER_LENGTH, data.length - HMAC_LENGTH);
    if (ciphertext.length === 0 || ciphertext.length % BLOCK_LENGTH !== 0) {
      throw tokenError('its ciphertext is not a whole number of blocks');
    }
    return unpad(this.#decipher.decrypt(data.subarray(1 + 8, HEADER_LENGTH), ciphertext));
  }

  #encryptParts(plaintext: Uint8Array, timestamp: bigint, iv: Uint8Array): string {
    const cipher = createCipheriv('aes-128-cbc', this.#encryptionKey, iv);
    cipher.setAutoPadding(true); // PKCS7, as `cryptography`'s padder
    const header = Buffer.alloc(HEADER_LENGTH);
    header[0] = VERSION;
    header.writeBigUInt64BE(timestamp, 1);
    header.set(iv, 1 + 8);
    const body = Buffer.concat([header, cipher.update(plaintext), cipher.final()]);
    const mac = this.#mac.digest(body);
    return encodeUrlSafeBase64(Buffer.concat([body, mac]));
  }

  #verifySignature(data: Buffer): void {
    const signed = data.subarray(0, data.length - HMAC_LENGTH);
    const expected = this.#mac.digest(signed);
    if (!timingSafeEqual(expected, data.subarray(data.length - HMAC_LENGTH))) {
      throw tokenError('its signature does not match (wrong key or tampered token)');
    }
  }
}

/** Strips PKCS7 padding as `cryptography`'s unpadder does (1–16 bytes, all equal to the count). */
function unpad(padded: Buffer): Buffer {
  const count = padded.at(-1) ?? 0;
  let bad = count === 0 || count > BLOCK_LENGTH ? 1 : 0;
  // The HMAC was checked first, so this is no padding oracle; it still avoids an early exit.
  for (let i = 1; i <= BLOCK_LENGTH; i += 1) {
    const byte = padded[padded.length - i] ?? 0;
    if (i <= count && byte !== count) bad = 1;
  }
  if (bad === 1) throw tokenError('its padding is wrong');
  return padded.subarray(0, padded.length - count);
}

/**
 * Several Fernet keys, for rotation, as Python's `cryptography.fernet.MultiFernet`: encrypts with
 * the first key and decrypts with whichever key fits.
 *
 * @example
 * ```ts
 * const keys = new MultiFernet([new Fernet(newKey), new Fernet(oldKey)]);
 * const fresh = keys.rotate(oldToken); // now readable with newKey alone
 * ```
 */
export class MultiFernet {
  readonly #fernets: readonly Fernet[];

  /**
   * @param fernets The keys, newest first.
   * @throws AirlockError `AIRLOCK_ERR_CRYPTO_KEY_MISSING` when the list is empty.
   */
  constructor(fernets: readonly Fernet[]) {
    if (fernets.length === 0) {
      throw new AirlockError(
        'AIRLOCK_ERR_CRYPTO_KEY_MISSING',
        'MultiFernet needs at least one key',
      );
    }
    this.#fernets = Object.freeze([...fernets]);
  }

  /** How many keys this holds. */
  get size(): number {
    return this.#fernets.length;
  }

  /**
   * Encrypts with the first key.
   *
   * @example
   * ```ts
   * const token = keys.encrypt('s3cr3t');
   * ```
   */
  encrypt(data: string | Uint8Array, opts: FernetEncryptOptions = {}): string {
    return this.#first.encrypt(data, opts);
  }

  /**
   * Decrypts with the first key that fits.
   *
   * @throws AirlockError `AIRLOCK_ERR_CRYPTO_TOKEN_INVALID` when the token is malformed or no key fits.
   * @example
   * ```ts
   * const bytes = keys.decrypt(token);
   * ```
   */
  decrypt(token: string, opts: FernetDecryptOptions = {}): Buffer {
    const parts = readUnverifiedToken(token);
    return this.#withAnyKey((fernet) => decryptParts(fernet, parts, opts));
  }

  /**
   * Decrypts UTF-8 text with the first key that fits.
   *
   * @example
   * ```ts
   * keys.decryptToString(keys.encrypt('héllo')); // 'héllo'
   * ```
   */
  decryptToString(token: string, opts: FernetDecryptOptions = {}): string {
    return decodeUtf8(this.decrypt(token, opts));
  }

  /**
   * The timestamp of a token made with any of the keys.
   *
   * @example
   * ```ts
   * keys.extractTimestamp(token); // 1767225600
   * ```
   */
  extractTimestamp(token: string): number {
    return this.#withAnyKey((fernet) => fernet.extractTimestamp(token));
  }

  /**
   * Re-encrypts a token made with any key under the first key, with a fresh IV but the original
   * timestamp (no TTL check), as Python's `MultiFernet.rotate` does.
   *
   * @throws AirlockError `AIRLOCK_ERR_CRYPTO_TOKEN_INVALID` when the token is malformed or no key fits.
   * @example
   * ```ts
   * const rotated = new MultiFernet([new Fernet(newKey), new Fernet(oldKey)]).rotate(token);
   * ```
   */
  rotate(token: string): string {
    const parts = readUnverifiedToken(token);
    const plaintext = this.#withAnyKey((fernet) => decryptParts(fernet, parts, {}));
    return encryptParts(this.#first, plaintext, parts.timestamp, freshIv());
  }

  /**
   * {@link Fernet.deriveKey} for every key, newest first (sign with the first, accept any).
   *
   * @example
   * ```ts
   * const [current, ...older] = keys.deriveKeys('airlock jwt v1');
   * ```
   */
  deriveKeys(info: string, length = 32): Buffer[] {
    return this.#fernets.map((fernet) => fernet.deriveKey(info, length));
  }

  get #first(): Fernet {
    return this.#fernets[0]!; // the constructor guarantees at least one key
  }

  #withAnyKey<T>(attempt: (fernet: Fernet) => T): T {
    let last: unknown;
    for (const fernet of this.#fernets) {
      try {
        return attempt(fernet);
      } catch (err) {
        if (!(err instanceof AirlockError)) throw err;
        last = err;
      }
    }
    // One key: keep its precise reason. Several: each may fail differently, so say so plainly.
    if (this.#fernets.length === 1) throw last;
    throw tokenError(`none of the ${this.#fernets.length} keys can decrypt it`);
  }
}

/**
 * Parses Airflow's `[core] fernet_key` value: comma-separated keys, newest first, each a Fernet
 * key. Whitespace around each key is ignored (`'k1, k2'` and a trailing newline from a key file
 * work), as they do in Airflow, whose base64 decoder drops it; anything else is checked strictly.
 *
 * @throws AirlockError `AIRLOCK_ERR_CRYPTO_KEY_MISSING` for an empty (or all-blank) value (Airflow
 *   then stores values unencrypted; callers decide whether that is allowed), and
 *   `AIRLOCK_ERR_CRYPTO_KEY_INVALID` naming the 1-based position of the first bad key
 *   (`Fernet key #2 is invalid: …`), never the key itself. An empty key between commas, or after
 *   a trailing comma, is a bad key.
 * @example
 * ```ts
 * const keys = parseFernetKeys(process.env.AIRLOCK__CORE__FERNET_KEY ?? '');
 * ```
 */
export function parseFernetKeys(value: string): MultiFernet {
  if (value.trim() === '') {
    throw new AirlockError('AIRLOCK_ERR_CRYPTO_KEY_MISSING', 'no Fernet key is configured');
  }
  const fernets = value.split(',').map((key, index) => {
    try {
      return new Fernet(key.trim());
    } catch (err) {
      throw new AirlockError(
        'AIRLOCK_ERR_CRYPTO_KEY_INVALID',
        `Fernet key #${index + 1} is invalid: it must be 32 url-safe base64-encoded bytes`,
        { cause: err, details: { position: index + 1 } },
      );
    }
  });
  return new MultiFernet(fernets);
}
