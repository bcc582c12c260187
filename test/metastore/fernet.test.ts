import { spawnSync } from 'node:child_process';
import { createCipheriv, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AirlockError, type ErrorCode } from '../../src/errors.ts';
import { Fernet, MultiFernet, parseFernetKeys } from '../../src/metastore/fernet.ts';

// --- spec vectors ------------------------------------------------------------------------------

const VECTORS_DIR = '/work/shared/vectors/fernet';

interface GenerateVector {
  token: string;
  now: string;
  iv: number[];
  src: string;
  secret: string;
}
interface VerifyVector {
  token: string;
  now: string;
  ttl_sec: number;
  src: string;
  secret: string;
}
interface InvalidVector {
  desc: string;
  token: string;
  now: string;
  ttl_sec: number;
  secret: string;
}

function loadVectors<T>(name: string): T[] {
  return JSON.parse(readFileSync(`${VECTORS_DIR}/${name}`, 'utf8')) as T[];
}

const generateVectors = loadVectors<GenerateVector>('generate.json');
const verifyVectors = loadVectors<VerifyVector>('verify.json');
const invalidVectors = loadVectors<InvalidVector>('invalid.json');

/** Seconds since the epoch of an ISO date with offset, as the vectors give `now`. */
function seconds(iso: string): number {
  return Date.parse(iso) / 1000;
}

// --- helpers -----------------------------------------------------------------------------------

const KEY_A = 'cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=';
const KEY_B = Fernet.generateKey();
const KEY_C = Fernet.generateKey();

/** Every text an error exposes: message, stack, JSON form and the whole `cause` chain. */
function exposedText(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && depth < 10; depth += 1) {
    if (current instanceof Error) {
      parts.push(current.message, current.stack ?? '', JSON.stringify(current), inspect(current));
      current = current.cause;
    } else {
      parts.push(String(current));
      current = undefined;
    }
  }
  return parts.join('\n');
}

/** Runs `fn`, expects an {@link AirlockError} with `code`, and that no `secret` leaks from it. */
function expectAirlockError(
  fn: () => unknown,
  code: ErrorCode,
  secrets: readonly string[] = [],
): AirlockError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(AirlockError);
  const err = caught as AirlockError;
  expect(err.code).toBe(code);
  const text = exposedText(err);
  for (const secret of secrets) {
    if (secret.length > 0) expect(text).not.toContain(secret);
  }
  return err;
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replaceAll('+', '-').replaceAll('/', '_');
}

function tokenBytes(token: string): Buffer {
  return Buffer.from(token, 'base64url');
}

// --- Python `cryptography` bridge --------------------------------------------------------------

const PYTHON_PRELUDE = `
import base64, json, sys
from cryptography.fernet import Fernet, MultiFernet, InvalidToken
req = json.load(sys.stdin)
def out(value):
    json.dump(value, sys.stdout)
`;

let pythonChecked = false;

/** Fails (never skips) with a clear message when python3 or its `cryptography` package is missing. */
function requirePythonCryptography(): void {
  if (pythonChecked) return;
  const probe = spawnSync(
    'python3',
    ['-c', 'import cryptography; print(cryptography.__version__)'],
    {
      encoding: 'utf8',
      timeout: 20_000,
    },
  );
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(
      "Fernet interop tests need `python3` on PATH with the `cryptography` package (pip install cryptography); `python3 -c 'import cryptography'` failed: " +
        (probe.error?.message ?? probe.stderr.trim()),
    );
  }
  pythonChecked = true;
}

/** Runs a Python snippet with `req` (the JSON `input`) in scope; it answers with `out(value)`. */
function python<T>(script: string, input: unknown): T {
  requirePythonCryptography();
  const result = spawnSync('python3', ['-c', PYTHON_PRELUDE + script], {
    input: JSON.stringify(input),
    encoding: 'utf8',
    timeout: 20_000,
  });
  if (result.error !== undefined || result.status !== 0) {
    throw new Error(`python3 failed: ${result.error?.message ?? result.stderr}`);
  }
  return JSON.parse(result.stdout) as T;
}

// --- tests -------------------------------------------------------------------------------------

describe('Fernet', () => {
  describe('spec vectors', () => {
    it.each(generateVectors.map((v) => [v.token.slice(0, 24), v] as const))(
      'produces the exact generate.json token %s…',
      (_, v) => {
        const token = new Fernet(v.secret).encrypt(v.src, {
          now: seconds(v.now),
          iv: Uint8Array.from(v.iv),
        });
        expect(token).toBe(v.token);
      },
    );

    it.each(verifyVectors.map((v) => [v.token.slice(0, 24), v] as const))(
      'decrypts the verify.json token %s…',
      (_, v) => {
        const fernet = new Fernet(v.secret);
        const opts = { ttlSeconds: v.ttl_sec, now: seconds(v.now) };
        expect(fernet.decryptToString(v.token, opts)).toBe(v.src);
        expect(fernet.decrypt(v.token, opts)).toEqual(Buffer.from(v.src, 'utf8'));
      },
    );

    it.each(invalidVectors.map((v) => [v.desc, v] as const))(
      'rejects the invalid.json token: %s',
      (_, v) => {
        const fernet = new Fernet(v.secret);
        const opts = { ttlSeconds: v.ttl_sec, now: seconds(v.now) };
        const secrets = [v.token, v.secret];
        expectAirlockError(
          () => fernet.decrypt(v.token, opts),
          'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
          secrets,
        );
        expectAirlockError(
          () => new MultiFernet([new Fernet(KEY_B), fernet]).decrypt(v.token, opts),
          'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
          secrets,
        );
      },
    );

    it('checks the timestamp only under a TTL, as Python does', () => {
      const far = invalidVectors.find((v) => v.desc.startsWith('far-future'));
      const expired = invalidVectors.find((v) => v.desc === 'expired TTL');
      expect(far).toBeDefined();
      expect(expired).toBeDefined();
      // Both carry a valid HMAC, so without a TTL they decrypt (to an empty plaintext).
      expect(new Fernet(far!.secret).decrypt(far!.token)).toEqual(Buffer.alloc(0));
      expect(new Fernet(expired!.secret).decrypt(expired!.token)).toEqual(Buffer.alloc(0));
    });
  });

  describe('token checks', () => {
    const fernet = new Fernet(KEY_A);
    const NOW = 1_767_225_600; // 2026-01-01T00:00:00Z
    // A fixed IV whose token contains '_', so the standard-alphabet case below really differs.
    const token = fernet.encrypt('hello', { now: NOW, iv: new Uint8Array(16) });

    it('rejects a token with another version byte', () => {
      for (const version of [0x00, 0x7f, 0x81, 0xff]) {
        const bytes = tokenBytes(token);
        bytes[0] = version;
        expectAirlockError(() => fernet.decrypt(b64url(bytes)), 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID');
      }
    });

    it.each([
      ['an empty token', ''],
      ['unpadded base64', token.replace(/=+$/, '')],
      ['whitespace inside', `${token.slice(0, 10)} ${token.slice(10)}`],
      ['a trailing newline', `${token}\n`],
      ['the standard base64 alphabet', Buffer.from(tokenBytes(token)).toString('base64')],
      ['data after the padding', `${token}AAAA`],
      ['only a version byte', b64url(Uint8Array.of(0x80))],
      ['a header without ciphertext', b64url(tokenBytes(token).subarray(0, 25 + 32))],
    ])('rejects %s', (_, bad) => {
      expect(bad).not.toBe(token);
      expectAirlockError(() => fernet.decrypt(bad), 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID', [token]);
    });

    it('rejects a token whose ciphertext, IV or timestamp was changed', () => {
      for (const index of [1, 8, 9, 24, 25, 40]) {
        const bytes = tokenBytes(token);
        bytes[index] = (bytes[index] ?? 0) ^ 0x01;
        expectAirlockError(() => fernet.decrypt(b64url(bytes)), 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID');
      }
    });

    it('rejects a correctly signed token whose ciphertext is not whole blocks', () => {
      const body = Buffer.concat([tokenBytes(token).subarray(0, 25 + 16), Buffer.from([1])]);
      const signingKey = Buffer.from(KEY_A, 'base64url').subarray(0, 16);
      const mac = createHmac('sha256', signingKey).update(body).digest();
      const err = expectAirlockError(
        () => fernet.decrypt(b64url(Buffer.concat([body, mac]))),
        'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
      );
      expect(err.message).toMatch(/blocks/);
    });

    it('rejects a token made with another key, naming neither key nor token', () => {
      const err = expectAirlockError(
        () => new Fernet(KEY_B).decrypt(token),
        'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
        [token, KEY_A, KEY_B, 'hello'],
      );
      expect(err.message).toMatch(/signature/);
    });

    it('rejects a non-string token', () => {
      expectAirlockError(
        () => fernet.decrypt(42 as unknown as string),
        'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
      );
    });

    it('allows 60 s of clock skew and no more', () => {
      expect(fernet.decryptToString(token, { ttlSeconds: 10, now: NOW - 60 })).toBe('hello');
      expectAirlockError(
        () => fernet.decrypt(token, { ttlSeconds: 10, now: NOW - 61 }),
        'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
      );
    });

    it('accepts a token exactly ttlSeconds old and rejects one a second older', () => {
      expect(fernet.decryptToString(token, { ttlSeconds: 30, now: NOW + 30 })).toBe('hello');
      const err = expectAirlockError(
        () => fernet.decrypt(token, { ttlSeconds: 30, now: NOW + 31 }),
        'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
        [token, 'hello'],
      );
      expect(err.message).toMatch(/expired/);
    });

    it('uses the clock when no now is given', () => {
      const fresh = fernet.encrypt('now');
      const issued = fernet.extractTimestamp(fresh);
      expect(Math.abs(issued - Date.now() / 1000)).toBeLessThan(5);
      expect(fernet.decryptToString(fresh, { ttlSeconds: 60 })).toBe('now');
      expectAirlockError(
        () => fernet.decrypt(token, { ttlSeconds: 1 }),
        'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
      );
    });

    it('rejects a ttlSeconds that is not a finite number', () => {
      expect(() => fernet.decrypt(token, { ttlSeconds: Number.NaN })).toThrow(RangeError);
    });
  });

  describe('encrypt', () => {
    const fernet = new Fernet(KEY_A);

    it('encrypts bytes and strings alike', () => {
      const iv = new Uint8Array(16).fill(7);
      const fromString = fernet.encrypt('héllo', { now: 1, iv });
      const fromBytes = fernet.encrypt(new TextEncoder().encode('héllo'), { now: 1, iv });
      expect(fromBytes).toBe(fromString);
    });

    it('encrypts a Uint8Array view at its own offset', () => {
      const backing = Uint8Array.from([9, 9, 1, 2, 3, 9]);
      const view = backing.subarray(2, 5);
      expect([...fernet.decrypt(fernet.encrypt(view))]).toEqual([1, 2, 3]);
    });

    it('uses a fresh random IV each time', () => {
      const a = fernet.encrypt('same', { now: 5 });
      const b = fernet.encrypt('same', { now: 5 });
      expect(a).not.toBe(b);
      expect(tokenBytes(a).subarray(9, 25)).not.toEqual(tokenBytes(b).subarray(9, 25));
    });

    it('writes the version byte, the timestamp and padding as Python does', () => {
      const token = fernet.encrypt('', { now: 499_162_800 });
      const bytes = tokenBytes(token);
      expect(bytes[0]).toBe(0x80);
      expect(bytes.readBigUInt64BE(1)).toBe(499_162_800n);
      expect(bytes.length).toBe(25 + 16 + 32);
      expect(token).toMatch(/^[A-Za-z0-9_-]+={0,2}$/);
      expect(token.length % 4).toBe(0);
    });

    it('drops the fraction of now', () => {
      expect(fernet.extractTimestamp(fernet.encrypt('x', { now: 10.9 }))).toBe(10);
    });

    it('rejects an IV that is not 16 bytes and a bad now', () => {
      expect(() => fernet.encrypt('x', { iv: new Uint8Array(15) })).toThrow(RangeError);
      expect(() => fernet.encrypt('x', { now: -1 })).toThrow(RangeError);
      expect(() => fernet.encrypt('x', { now: Number.NaN })).toThrow(RangeError);
      expect(() => fernet.encrypt('x', { now: 2 ** 65 })).toThrow(RangeError);
    });
  });

  describe('decryptToString', () => {
    const fernet = new Fernet(KEY_A);

    it('keeps a leading byte-order mark, as bytes.decode() does', () => {
      expect(fernet.decryptToString(fernet.encrypt('\uFEFFx'))).toBe('\uFEFFx');
    });

    it('rejects a plaintext that is not UTF-8, without echoing it', () => {
      const token = fernet.encrypt(Uint8Array.of(0xff, 0xfe, 0x41));
      expect([...fernet.decrypt(token)]).toEqual([0xff, 0xfe, 0x41]);
      expectAirlockError(() => fernet.decryptToString(token), 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID', [
        token,
      ]);
    });
  });

  describe('extractTimestamp', () => {
    it('returns the timestamp after checking the signature', () => {
      const token = new Fernet(KEY_A).encrypt('x', { now: 123_456 });
      expect(new Fernet(KEY_A).extractTimestamp(token)).toBe(123_456);
      expectAirlockError(
        () => new Fernet(KEY_B).extractTimestamp(token),
        'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
      );
    });
  });

  describe('keys', () => {
    it('generates 44-character url-safe keys with padding that are all different', () => {
      const keys = new Set(Array.from({ length: 50 }, () => Fernet.generateKey()));
      expect(keys.size).toBe(50);
      for (const key of keys) {
        expect(key).toMatch(/^[A-Za-z0-9_-]{43}=$/);
        expect(() => new Fernet(key)).not.toThrow();
      }
    });

    const good = Fernet.generateKey();
    it.each([
      ['empty', ''],
      ['unpadded', good.slice(0, -1)],
      ['with a leading space', ` ${good}`],
      ['with a trailing newline', `${good}\n`],
      ['31 bytes', b64url(new Uint8Array(31).fill(1))],
      ['33 bytes', b64url(new Uint8Array(33).fill(1))],
      ['64 bytes', b64url(new Uint8Array(64).fill(1))],
      ['in the standard alphabet', b64url(new Uint8Array(32).fill(0xfb)).replaceAll('-', '+')],
      ['followed by data after the padding', `${good}AAAA`],
      ['not base64', '%'.repeat(44)],
    ])('rejects a key that is %s, without echoing it', (_, key) => {
      const err = expectAirlockError(() => new Fernet(key), 'AIRLOCK_ERR_CRYPTO_KEY_INVALID', [
        key.trim(),
      ]);
      expect(err.message).toMatch(/32 url-safe base64-encoded bytes/);
    });

    it('rejects a key that is not a string', () => {
      expectAirlockError(
        () => new Fernet(undefined as unknown as string),
        'AIRLOCK_ERR_CRYPTO_KEY_INVALID',
      );
    });

    it('keeps the key out of inspect and JSON', () => {
      const fernet = new Fernet(KEY_A);
      const raw = Buffer.from(KEY_A, 'base64url');
      for (const text of [
        inspect(fernet, { showHidden: true, depth: 5 }),
        JSON.stringify(fernet),
      ]) {
        expect(text).not.toContain(KEY_A);
        expect(text).not.toContain(raw.toString('hex'));
        expect(text).not.toContain(raw.subarray(0, 16).toString('hex'));
      }
    });
  });

  it('round-trips any string and any bytes (property)', () => {
    const fernet = new Fernet(KEY_A);
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.nat(), (text, now) => {
        const token = fernet.encrypt(text, { now });
        expect(fernet.decryptToString(token)).toBe(text);
        expect(fernet.extractTimestamp(token)).toBe(now);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(new Uint8Array(fernet.decrypt(fernet.encrypt(bytes)))).toEqual(bytes);
      }),
    );
  });
});

/**
 * A Fernet token made the textbook way with `node:crypto`'s own AES-128-CBC and HMAC objects,
 * independent of the one-shot HMAC and block-wise CBC that `Fernet` uses for speed.
 */
function textbookToken(key: string, plaintext: Uint8Array, iv: Uint8Array, now: number): string {
  const raw = Buffer.from(key, 'base64url');
  const cipher = createCipheriv('aes-128-cbc', raw.subarray(16), iv);
  const header = Buffer.alloc(25);
  header[0] = 0x80;
  header.writeBigUInt64BE(BigInt(now), 1);
  header.set(iv, 9);
  const body = Buffer.concat([header, cipher.update(plaintext), cipher.final()]);
  const mac = createHmac('sha256', raw.subarray(0, 16)).update(body).digest();
  return Buffer.concat([body, mac])
    .toString('base64url')
    .padEnd(Math.ceil((body.length + 32) / 3) * 4, '=');
}

describe('Fernet against node:crypto textbook AES-CBC and HMAC objects', () => {
  it('decrypts their tokens and makes the same tokens (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.nat(),
        (keyBytes, iv, plaintext, now) => {
          const key = Buffer.from(keyBytes).toString('base64url').padEnd(44, '=');
          const fernet = new Fernet(key);
          const expected = textbookToken(key, plaintext, iv, now);
          expect(fernet.encrypt(plaintext, { iv, now })).toBe(expected);
          expect(new Uint8Array(fernet.decrypt(expected))).toEqual(plaintext);
          // The same key keeps decrypting other tokens afterwards (its block decipher is reused).
          expect(new Uint8Array(fernet.decrypt(expected))).toEqual(plaintext);
        },
      ),
    );
  });

  it('refuses a textbook token whose last byte of HMAC was changed', () => {
    const key = Fernet.generateKey();
    const token = textbookToken(key, Buffer.from('x'), Buffer.alloc(16, 7), 1);
    const bytes = Buffer.from(token, 'base64url');
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
    const tampered = bytes.toString('base64url').padEnd(token.length, '=');
    expect(() => new Fernet(key).decrypt(tampered)).toThrow(/signature does not match/);
  });
});

describe('MultiFernet', () => {
  const a = new Fernet(KEY_A);
  const b = new Fernet(KEY_B);
  const c = new Fernet(KEY_C);

  it('encrypts with the first key and decrypts with any', () => {
    const keys = new MultiFernet([b, a]);
    expect(keys.size).toBe(2);
    const token = keys.encrypt('secret');
    expect(b.decryptToString(token)).toBe('secret');
    expectAirlockError(() => a.decrypt(token), 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID');
    expect(keys.decryptToString(a.encrypt('old'))).toBe('old');
    expect([...keys.decrypt(a.encrypt(Uint8Array.of(1, 2)))]).toEqual([1, 2]);
  });

  it('rejects a token no key fits, naming no key, token or plaintext', () => {
    const token = c.encrypt('plaintext-value');
    const err = expectAirlockError(
      () => new MultiFernet([a, b]).decrypt(token),
      'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
      [token, KEY_A, KEY_B, KEY_C, 'plaintext-value'],
    );
    expect(err.message).toMatch(/none of the 2 keys/);
  });

  it('applies the TTL with every key', () => {
    const token = a.encrypt('x', { now: 1000 });
    const keys = new MultiFernet([b, a]);
    expect(keys.decryptToString(token, { ttlSeconds: 10, now: 1005 })).toBe('x');
    expectAirlockError(
      () => keys.decrypt(token, { ttlSeconds: 10, now: 1011 }),
      'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
    );
  });

  it('extracts the timestamp of a token made with any key', () => {
    const keys = new MultiFernet([b, a]);
    expect(keys.extractTimestamp(a.encrypt('x', { now: 77 }))).toBe(77);
    expectAirlockError(
      () => keys.extractTimestamp(c.encrypt('x')),
      'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
    );
  });

  it('rotates a token to the first key, keeping its timestamp and plaintext', () => {
    const old = a.encrypt('rotate me ✓', { now: 1_000 });
    const rotated = new MultiFernet([b, a]).rotate(old);
    expect(rotated).not.toBe(old);
    expect(b.decryptToString(rotated)).toBe('rotate me ✓');
    expect(b.extractTimestamp(rotated)).toBe(1_000);
    expectAirlockError(() => a.decrypt(rotated), 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID');
    // A token already under the first key is re-encrypted too (new IV), still readable.
    const again = new MultiFernet([b, a]).rotate(rotated);
    expect(again).not.toBe(rotated);
    expect(b.decryptToString(again)).toBe('rotate me ✓');
  });

  it('rejects rotating a token that no key fits or that is malformed', () => {
    const token = c.encrypt('x');
    expectAirlockError(
      () => new MultiFernet([b, a]).rotate(token),
      'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
      [token],
    );
    expectAirlockError(
      () => new MultiFernet([b]).rotate('not a token'),
      'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
    );
  });

  it('needs at least one key', () => {
    expectAirlockError(() => new MultiFernet([]), 'AIRLOCK_ERR_CRYPTO_KEY_MISSING');
  });

  it('round-trips through any key order (property)', () => {
    const pool = [a, b, c];
    fc.assert(
      fc.property(
        fc.shuffledSubarray(pool, { minLength: 1 }),
        fc.string({ unit: 'grapheme', maxLength: 50 }),
        (fernets, text) => {
          const keys = new MultiFernet(fernets);
          const token = keys.encrypt(text);
          expect(fernets[0]!.decryptToString(token)).toBe(text);
          for (const fernet of fernets) {
            expect(keys.decryptToString(fernet.encrypt(text))).toBe(text);
          }
          expect(keys.decryptToString(keys.rotate(token))).toBe(text);
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('parseFernetKeys', () => {
  it('reads one key', () => {
    const keys = parseFernetKeys(KEY_A);
    expect(keys.size).toBe(1);
    expect(new Fernet(KEY_A).decryptToString(keys.encrypt('x'))).toBe('x');
  });

  it('reads comma-separated keys, newest first', () => {
    const keys = parseFernetKeys(`${KEY_B},${KEY_A}`);
    expect(keys.size).toBe(2);
    expect(new Fernet(KEY_B).decryptToString(keys.encrypt('x'))).toBe('x');
    expect(keys.decryptToString(new Fernet(KEY_A).encrypt('old'))).toBe('old');
  });

  it.each([
    ['a space after the comma', `${KEY_B}, ${KEY_A}`],
    ['a leading space and a trailing newline', ` ${KEY_B}\n,${KEY_A}`],
    ['tabs and spaces around every key', `\t${KEY_B} ,\t ${KEY_A}  \n`],
  ])('ignores whitespace around each key, as Airflow does: %s', (_, value) => {
    const keys = parseFernetKeys(value);
    expect(keys.size).toBe(2);
    expect(new Fernet(KEY_B).decryptToString(keys.encrypt('x'))).toBe('x');
    expect(keys.decryptToString(new Fernet(KEY_A).encrypt('old'))).toBe('old');
  });

  it.each([
    ['a trailing comma', `${KEY_B},`, 2],
    ['an empty key in the middle', `${KEY_B},,${KEY_A}`, 2],
    ['a blank key in the middle', `${KEY_B}, ,${KEY_A}`, 2],
    ['a bad first key', `${KEY_B.slice(1)},${KEY_A}`, 1],
    ['a bad third key', `${KEY_B},${KEY_A},${KEY_C}x`, 3],
    ['a space inside a key', `${KEY_A.slice(0, 20)} ${KEY_A.slice(20)}`, 1],
  ])('names the position of the bad key for %s, never the key', (_, value, position) => {
    const err = expectAirlockError(() => parseFernetKeys(value), 'AIRLOCK_ERR_CRYPTO_KEY_INVALID', [
      KEY_A,
      KEY_B,
      KEY_C,
      KEY_B.slice(1),
    ]);
    expect(err.message).toContain(`Fernet key #${position} is invalid`);
    expect(err.details).toEqual({ position });
  });

  it('reports an empty or blank value as a missing key', () => {
    expectAirlockError(() => parseFernetKeys(''), 'AIRLOCK_ERR_CRYPTO_KEY_MISSING');
    expectAirlockError(() => parseFernetKeys(' \n'), 'AIRLOCK_ERR_CRYPTO_KEY_MISSING');
  });
});

describe('interop with Python cryptography', () => {
  const PLAINTEXTS = [
    'hello',
    '',
    'postgres://user:p@ss@host:5432/db',
    'héllo wörld — ünïcödé ✓ 日本語 🔐👩‍👩‍👧 \u0000 \uFEFF end',
    '{"a": [1, 2, {"b": null}]}',
    'x'.repeat(1000),
  ];

  it('finds python3 with the cryptography package', () => {
    expect(() => requirePythonCryptography()).not.toThrow();
  });

  it('decrypts in Python what airlock encrypts (unicode included)', () => {
    const fernet = new Fernet(KEY_B);
    const tokens = PLAINTEXTS.map((text) => fernet.encrypt(text, { now: 1_700_000_000 }));
    const answer = python<{ texts: string[]; stamps: number[] }>(
      `
f = Fernet(req["key"])
out({"texts": [f.decrypt(t).decode("utf-8") for t in req["tokens"]],
     "stamps": [f.extract_timestamp(t) for t in req["tokens"]]})
`,
      { key: KEY_B, tokens },
    );
    expect(answer.texts).toEqual(PLAINTEXTS);
    expect(answer.stamps).toEqual(PLAINTEXTS.map(() => 1_700_000_000));
  });

  it('decrypts in airlock what Python encrypts (unicode included)', () => {
    const answer = python<{ key: string; tokens: string[] }>(
      `
key = Fernet.generate_key()
f = Fernet(key)
out({"key": key.decode(), "tokens": [f.encrypt_at_time(t.encode("utf-8"), 1_700_000_000).decode() for t in req["texts"]]})
`,
      { texts: PLAINTEXTS },
    );
    const fernet = new Fernet(answer.key);
    expect(answer.tokens.map((t) => fernet.decryptToString(t))).toEqual(PLAINTEXTS);
    expect(answer.tokens.map((t) => fernet.extractTimestamp(t))).toEqual(
      PLAINTEXTS.map(() => 1_700_000_000),
    );
    expect(fernet.decryptToString(answer.tokens[0]!, { ttlSeconds: 10, now: 1_700_000_005 })).toBe(
      'hello',
    );
  });

  it('produces byte-identical tokens to Python for the same key, time and IV', () => {
    const iv = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
    const fernet = new Fernet(KEY_C);
    const ours = PLAINTEXTS.map((text) => fernet.encrypt(text, { now: 1_234_567_890, iv }));
    const theirs = python<string[]>(
      `
f = Fernet(req["key"])
iv = bytes(req["iv"])
out([f._encrypt_from_parts(t.encode("utf-8"), 1_234_567_890, iv).decode() for t in req["texts"]])
`,
      { key: KEY_C, iv: [...iv], texts: PLAINTEXTS },
    );
    expect(ours).toEqual(theirs);
  });

  it('reads a Python MultiFernet rotation with the new key alone', () => {
    const oldToken = new Fernet(KEY_A).encrypt('rotated in Python ✓', { now: 1_600_000_000 });
    const answer = python<{ rotated: string; viaMulti: string }>(
      `
mf = MultiFernet([Fernet(k) for k in req["fernet_key"].split(",")])
out({"rotated": mf.rotate(req["token"]).decode(), "viaMulti": mf.encrypt("multi ✓".encode()).decode()})
`,
      { fernet_key: `${KEY_B},${KEY_A}`, token: oldToken },
    );
    const fresh = new Fernet(KEY_B);
    expect(fresh.decryptToString(answer.rotated)).toBe('rotated in Python ✓');
    expect(fresh.extractTimestamp(answer.rotated)).toBe(1_600_000_000);
    expect(fresh.decryptToString(answer.viaMulti)).toBe('multi ✓');
    expect(parseFernetKeys(`${KEY_B},${KEY_A}`).decryptToString(answer.viaMulti)).toBe('multi ✓');
  });

  it('lets Python read an airlock MultiFernet rotation with the new key alone', () => {
    const oldToken = new Fernet(KEY_A).encrypt('rotated in airlock ✓', { now: 1_600_000_000 });
    const rotated = parseFernetKeys(`${KEY_C},${KEY_A}`).rotate(oldToken);
    const answer = python<{ text: string; stamp: number; oldRejected: boolean }>(
      `
f = Fernet(req["new"])
try:
    Fernet(req["old"]).decrypt(req["rotated"])
    old_rejected = False
except InvalidToken:
    old_rejected = True
out({"text": f.decrypt(req["rotated"]).decode("utf-8"), "stamp": f.extract_timestamp(req["rotated"]),
     "oldRejected": old_rejected})
`,
      { new: KEY_C, old: KEY_A, rotated },
    );
    expect(answer).toEqual({
      text: 'rotated in airlock ✓',
      stamp: 1_600_000_000,
      oldRejected: true,
    });
  });

  it('uses keys generated by the other side', () => {
    const pythonKey = python<string>('out(Fernet.generate_key().decode())', {});
    expect(new Fernet(pythonKey).decryptToString(new Fernet(pythonKey).encrypt('k'))).toBe('k');
    const ourKey = Fernet.generateKey();
    const token = new Fernet(ourKey).encrypt('from airlock key');
    expect(
      python<string>('out(Fernet(req["key"]).decrypt(req["token"]).decode())', {
        key: ourKey,
        token,
      }),
    ).toBe('from airlock key');
  });

  it('agrees with Python on every spec vector', () => {
    const answer = python<{ generated: string[]; verified: string[]; rejected: boolean[] }>(
      `
def rejected(v):
    try:
        Fernet(v["secret"]).decrypt_at_time(v["token"], v["ttl_sec"], v["now_s"])
        return False
    except InvalidToken:
        return True
out({
  "generated": [Fernet(v["secret"])._encrypt_from_parts(v["src"].encode(), v["now_s"], bytes(v["iv"])).decode() for v in req["generate"]],
  "verified": [Fernet(v["secret"]).decrypt_at_time(v["token"], v["ttl_sec"], v["now_s"]).decode() for v in req["verify"]],
  "rejected": [rejected(v) for v in req["invalid"]],
})
`,
      {
        generate: generateVectors.map((v) => ({ ...v, now_s: seconds(v.now) })),
        verify: verifyVectors.map((v) => ({ ...v, now_s: seconds(v.now) })),
        invalid: invalidVectors.map((v) => ({ ...v, now_s: seconds(v.now) })),
      },
    );
    expect(answer.generated).toEqual(generateVectors.map((v) => v.token));
    expect(answer.verified).toEqual(verifyVectors.map((v) => v.src));
    expect(answer.rejected).toEqual(invalidVectors.map(() => true));
  });

  it('round-trips random unicode through Python and back (property)', () => {
    const texts = fc.sample(fc.string({ unit: 'grapheme', maxLength: 80 }), 40);
    const fernet = new Fernet(KEY_A);
    const answer = python<string[]>(
      `
f = Fernet(req["key"])
out([f.encrypt(f.decrypt(t)).decode() for t in req["tokens"]])
`,
      { key: KEY_A, tokens: texts.map((t) => fernet.encrypt(t)) },
    );
    expect(answer.map((t) => fernet.decryptToString(t))).toEqual(texts);
  });
});
