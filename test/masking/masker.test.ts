import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MASK, SecretsMasker } from '../../src/masking/masker.ts';
import { isSensitiveName, redactSensitive } from '../../src/masking/sensitive-keys.ts';
import { createMaskingStream } from '../../src/masking/stream.ts';

async function throughStream(masker: SecretsMasker, chunks: (string | Buffer)[]): Promise<Buffer> {
  const source = Readable.from(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
  return buffer(source.pipe(createMaskingStream(masker)));
}

describe('isSensitiveName', () => {
  it("matches Airflow's words as substrings, case-insensitively", () => {
    for (const name of [
      'password',
      'db_password_2',
      'API_KEY',
      'my-secret',
      'AccessToken',
      'Authorization',
      'private_key_pem',
      'webhook_url',
    ])
      expect(isSensitiveName(name), name).toBe(true);
    for (const name of ['pass', 'host', 'login', 'user', 'schema', 'key', 'extra'])
      expect(isSensitiveName(name), name).toBe(false);
  });

  it('folds non-word characters to _ and accepts extra words', () => {
    expect(isSensitiveName('api-key')).toBe(true);
    expect(isSensitiveName('access.token')).toBe(true);
    expect(isSensitiveName('ssn_number', ['ssn'])).toBe(true);
    expect(isSensitiveName('ssn_number', [' ', ''])).toBe(false);
  });

  it('redacts structures by key', () => {
    expect(
      redactSensitive({ url: 'u', nested: { token: 'x', n: 5 }, list: [{ password: 'p' }] }),
    ).toEqual({
      url: 'u',
      nested: { token: '***', n: 5 },
      list: [{ password: '***' }],
    });
  });
});

describe('SecretsMasker', () => {
  it('registers strings with no name or a sensitive name only', () => {
    const masker = new SecretsMasker();
    masker.add('value-without-name');
    masker.add('visible-host-name', 'host');
    masker.add('hidden-by-name', 'db_password');
    expect(masker.redact('a value-without-name b visible-host-name c hidden-by-name')).toBe(
      `a ${MASK} b visible-host-name c ${MASK}`,
    );
  });

  it('walks objects by key and lists under their parent name', () => {
    const masker = new SecretsMasker();
    masker.add({
      host: 'db.example.com',
      password: 'pw-123456',
      nested: { api_key: 'k-abcdef', plain: 'plain-text' },
    });
    masker.add(['list-item-1', 'list-item-2'], 'tokens');
    const out = masker.redact(
      'db.example.com pw-123456 k-abcdef plain-text list-item-1 list-item-2',
    );
    expect(out).toBe(`db.example.com ${MASK} ${MASK} plain-text ${MASK} ${MASK}`);
  });

  it('never masks short strings or "airflow"', () => {
    const masker = new SecretsMasker();
    masker.add('abcd');
    masker.add('airflow');
    masker.add('AIRFLOW');
    expect(masker.size).toBe(0);
    expect(masker.redact('abcd airflow')).toBe('abcd airflow');
    const strict = new SecretsMasker({ minLength: 1 });
    strict.add('ab');
    expect(strict.redact('xaby')).toBe(`x${MASK}y`);
  });

  it('masks URL-encoded, JSON-escaped and base64 forms', () => {
    const masker = new SecretsMasker();
    const secret = 'p@ss:w/rd "quoted" + ü';
    masker.addSecret(secret);
    expect(masker.redact(`uri=postgres://u:${encodeURIComponent(secret)}@h/db`)).toBe(
      `uri=postgres://u:${MASK}@h/db`,
    );
    expect(masker.redact(JSON.stringify({ password: secret }))).toBe(`{"password":"${MASK}"}`);
    for (const prefix of ['', 'a', 'ab', 'abc']) {
      const encoded = Buffer.from(`${prefix}${secret}tail`).toString('base64');
      expect(masker.redact(encoded), prefix).toContain(MASK);
      expect(masker.redact(encoded)).not.toContain(
        Buffer.from(secret).toString('base64').slice(4, 12),
      );
    }
    const urlsafe = Buffer.from(`x${secret}`).toString('base64url');
    expect(masker.redact(urlsafe)).toContain(MASK);
  });

  it('masks a secret that contains another one whole', () => {
    const masker = new SecretsMasker();
    masker.addSecret('inner');
    masker.addSecret('outer-inner-outer');
    expect(masker.redact('x outer-inner-outer y inner')).toBe(`x ${MASK} y ${MASK}`);
  });

  it('ignores names when hideSensitive is off, and honours extra words', () => {
    const off = new SecretsMasker({ hideSensitive: false });
    off.add('some-password-value', 'password');
    expect(off.redact('some-password-value')).toBe('some-password-value');
    const extra = new SecretsMasker({ sensitiveWords: ['pin'] });
    extra.add('1234-5678', 'card_pin');
    expect(extra.redact('pin is 1234-5678')).toBe(`pin is ${MASK}`);
  });

  it('redacts structures: sensitive keys wholesale, registered secrets everywhere', () => {
    const masker = new SecretsMasker();
    masker.addSecret('registered-1');
    expect(
      masker.redactValue({
        password: 'anything',
        note: 'has registered-1 inside',
        count: 3,
        inner: [{ token: 't' }],
      }),
    ).toEqual({ password: MASK, note: `has ${MASK} inside`, count: 3, inner: [{ token: MASK }] });
  });
});

describe('createMaskingStream', () => {
  it('masks a secret split across two writes', async () => {
    const masker = new SecretsMasker();
    masker.addSecret('split-secret-value');
    const out = await throughStream(masker, ['before split-sec', 'ret-value after']);
    expect(out.toString()).toBe(`before ${MASK} after`);
  });

  it('masks a secret split byte by byte, and a longer secret extending a shorter one', async () => {
    const masker = new SecretsMasker();
    masker.addSecret('abcde');
    masker.addSecret('abcdefghij');
    const text = 'xx abcdefghij yy abcde zz abcdefgh';
    const out = await throughStream(
      masker,
      [...Buffer.from(text)].map((b) => Buffer.from([b])),
    );
    expect(out.toString()).toBe(`xx ${MASK} yy ${MASK} zz ${MASK}fgh`);
  });

  it('passes binary data and split multi-byte characters through unchanged', async () => {
    const masker = new SecretsMasker();
    masker.addSecret('geheimnis-ü');
    const binary = Buffer.from([0, 255, 254, 0x80, 10, 13, 0xc3]);
    const utf8 = Buffer.from('Grüße ');
    const out = await throughStream(masker, [
      binary,
      utf8.subarray(0, 3),
      utf8.subarray(3),
      'geheim',
      'nis-ü!',
    ]);
    expect(out.subarray(0, binary.length).equals(binary)).toBe(true);
    expect(out.subarray(binary.length).toString()).toBe(`Grüße ${MASK}!`);
  });

  it('flushes held bytes at the end even when they never complete a secret', async () => {
    const masker = new SecretsMasker();
    masker.addSecret('complete-secret');
    const out = await throughStream(masker, ['ends with complete-sec']);
    expect(out.toString()).toBe('ends with complete-sec');
  });

  it('never lets a secret through, whatever the chunking (property)', async () => {
    const secret = 'Pr0p-S3cret/+=';
    const masker = new SecretsMasker();
    masker.addSecret(secret);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ maxLength: 8 }), { maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 20 }),
        async (parts, sizes) => {
          const text = parts.join(secret);
          const bytes = Buffer.from(text);
          const chunks: Buffer[] = [];
          for (let i = 0, k = 0; i < bytes.length; k++) {
            const n = sizes[k % sizes.length] as number;
            chunks.push(bytes.subarray(i, i + n));
            i += n;
          }
          const out = (await throughStream(masker, chunks)).toString();
          expect(out).not.toContain(secret);
          expect(out).toBe(masker.redact(text));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('SecretsMasker: JSON forms and forks', () => {
  it("masks Python's json.dumps escapes (\\uXXXX, either case) and \\/-escaped JSON", () => {
    const masker = new SecretsMasker();
    const secret = 'pässwörd/ß€-😀-x';
    masker.addSecret(secret);
    const python = JSON.stringify(secret).replace(
      /[\u0080-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
    expect(python).toContain('\\ud83d\\ude00');
    const upper = python.replace(
      /\\u([0-9a-f]{4})/g,
      (_, hex: string) => `\\u${hex.toUpperCase()}`,
    );
    const slashed = JSON.stringify(secret).replace(/\//g, '\\/');
    for (const text of [python, upper, slashed, python.replace(/\//g, '\\/')]) {
      expect(masker.redact(`{"v": ${text}}`)).toBe(`{"v": "${MASK}"}`);
    }
  });

  it('forks: the copy keeps what was registered, and what either adds later stays its own', () => {
    const parent = new SecretsMasker({ sensitiveWords: ['ssn'] });
    parent.addSecret('deployment-secret');
    const child = parent.fork();
    child.add('child-only-value', 'my_ssn');
    parent.addSecret('parent-later-value');
    expect(child.redact('deployment-secret child-only-value parent-later-value')).toBe(
      `${MASK} ${MASK} parent-later-value`,
    );
    expect(parent.redact('child-only-value')).toBe('child-only-value');
  });

  it('registers a secret again as it did the first time: in a fork, and after a lower minimum', () => {
    const parent = new SecretsMasker();
    parent.addSecret('again-secret');
    const size = parent.size;
    parent.addSecret('again-secret');
    expect(parent.size).toBe(size);
    // A fork made before the parent learns a secret registers all of its forms itself.
    const early = parent.fork();
    parent.addSecret('later/secret value');
    early.addSecret('later/secret value');
    expect(early.size).toBe(parent.size);
    expect(early.redact('later%2Fsecret+value')).toBe(MASK);
    // A secret shorter than the minimum is not registered; after a lower minimum, it is.
    const short = new SecretsMasker({ minLength: 8 });
    short.addSecret('abcdef');
    expect(short.size).toBe(0);
    short.configure({ minLength: 3 });
    short.addSecret('abcdef');
    expect(short.redact('an abcdef')).toBe(`an ${MASK}`);
  });
});
