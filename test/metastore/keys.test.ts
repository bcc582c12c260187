import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AirlockError } from '../../src/errors.ts';
import { Fernet } from '../../src/metastore/fernet.ts';
import { generateKeyFile, keyFilePath, loadFernetKeys } from '../../src/metastore/keys.ts';
import { tempDir } from '../helpers/tmp.ts';

function codeOf(run: () => unknown): AirlockError {
  try {
    run();
  } catch (err) {
    if (err instanceof AirlockError) return err;
    throw err;
  }
  throw new Error('expected an AirlockError');
}

describe('loadFernetKeys', () => {
  const a = Fernet.generateKey();
  const b = Fernet.generateKey();

  it('reads a configured value, newest key first', () => {
    const loaded = loadFernetKeys(
      { from: 'AIRFLOW__CORE__FERNET_KEY', value: `${b},${a}` },
      '/nowhere',
    );
    expect(loaded?.from).toBe('AIRFLOW__CORE__FERNET_KEY');
    expect(new Fernet(b).decryptToString(loaded?.keys.encrypt('x') ?? '')).toBe('x');
    expect(loaded?.keys.decryptToString(new Fernet(a).encrypt('old'))).toBe('old');
  });

  it('runs a _CMD command and reports its failure without its output', () => {
    const loaded = loadFernetKeys(
      { from: 'AIRLOCK__CORE__FERNET_KEY_CMD', command: `printf '%s\\n' '${a}'` },
      '/nowhere',
    );
    expect(loaded?.keys.size).toBe(1);
    const err = codeOf(() =>
      loadFernetKeys(
        { from: 'AIRLOCK__CORE__FERNET_KEY_CMD', command: `echo ${a}; exit 3` },
        '/nowhere',
      ),
    );
    expect(err.code).toBe('AIRLOCK_ERR_CRYPTO_KEY_UNREADABLE');
    expect(err.message).toBe('AIRLOCK__CORE__FERNET_KEY_CMD: the key command failed (exit 3)');
    const bad = codeOf(() =>
      loadFernetKeys(
        { from: 'AIRLOCK__CORE__FERNET_KEY_CMD', command: `echo not-a-key-${a.slice(0, 10)}` },
        '/nowhere',
      ),
    );
    expect(bad.code).toBe('AIRLOCK_ERR_CRYPTO_KEY_INVALID');
    expect(bad.message).not.toContain(a.slice(0, 10));
  });

  it('falls back to the key file, and to nothing when there is none', () => {
    const home = tempDir();
    expect(loadFernetKeys(null, home)).toBeUndefined();
    writeFileSync(keyFilePath(home), `${a}\n`);
    expect(loadFernetKeys(null, home)?.from).toBe(join(home, 'fernet.key'));
    writeFileSync(keyFilePath(home), `${a.slice(1)}\n`);
    const err = codeOf(() => loadFernetKeys(null, home));
    expect(err.code).toBe('AIRLOCK_ERR_CRYPTO_KEY_INVALID');
    expect(err.message).toContain('fernet.key');
    expect(err.message).toContain('Fernet key #1 is invalid');
    expect(err.message).not.toContain(a.slice(1, 20));
  });

  it('names a key file it cannot read', () => {
    const home = tempDir();
    mkdirSync(keyFilePath(home)); // a folder where the file should be
    const err = codeOf(() => loadFernetKeys(null, home));
    expect(err.code).toBe('AIRLOCK_ERR_CRYPTO_KEY_UNREADABLE');
    expect(err.message).toBe(`cannot read the Fernet key file \`${keyFilePath(home)}\` (EISDIR)`);
  });
});

describe('generateKeyFile', () => {
  it('writes a new key with mode 0600 in a 0700 folder, and never overwrites one', () => {
    const home = join(tempDir(), 'new-home');
    const first = generateKeyFile(home);
    expect(first.created).toBe(true);
    expect(statSync(first.path).mode & 0o777).toBe(0o600);
    expect(statSync(home).mode & 0o777).toBe(0o700);
    const text = readFileSync(first.path, 'utf8');
    expect(text).toMatch(/^[A-Za-z0-9_-]{43}=\n$/);
    const second = generateKeyFile(home);
    expect(second.created).toBe(false);
    expect(readFileSync(first.path, 'utf8')).toBe(text);
    expect(second.keys.decryptToString(first.keys.encrypt('same key'))).toBe('same key');
  });
});
