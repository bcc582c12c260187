/**
 * @module metastore/keys
 * Where the metastore's Fernet keys come from, in this order:
 *
 * 1. `AIRLOCK__CORE__FERNET_KEY` / `AIRFLOW__CORE__FERNET_KEY` (comma-separated, newest first);
 * 2. `AIRLOCK__CORE__FERNET_KEY_CMD` / `AIRFLOW__CORE__FERNET_KEY_CMD`: a shell command whose
 *    output is the key list (Airflow's `_CMD` convention for sensitive settings);
 * 3. the key file `$AIRLOCK_HOME/fernet.key`, which `airlock db migrate` generates (mode 0600)
 *    when none of the above is set.
 *
 * No message produced here contains a key, or the output of the key command.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FernetKeySetting } from '../config/schema.ts';
import { AirlockError, isAirlockError } from '../errors.ts';
import { Fernet, type MultiFernet, parseFernetKeys } from './fernet.ts';

/** Fernet keys and where they were read from (an env name or a file path). */
export interface LoadedKeys {
  readonly keys: MultiFernet;
  readonly from: string;
}

/** The key file airlock generates in its home. */
export function keyFilePath(home: string): string {
  return join(home, 'fernet.key');
}

/** Parses a key list, prefixing a bad key's message with where it came from. */
function parseFrom(from: string, text: string): MultiFernet {
  try {
    return parseFernetKeys(text);
  } catch (err) {
    if (!isAirlockError(err)) throw err;
    throw new AirlockError(err.code, `${from}: ${err.message}`, {
      ...(err.details === undefined ? {} : { details: err.details }),
    });
  }
}

function runKeyCommand(from: string, command: string): string {
  // Taken when a key command is configured, not imported: this module is loaded by every CLI
  // command (for `keyFilePath`), and `node:child_process` brings Node's `net` and streams.
  const { execFileSync } = process.getBuiltinModule('node:child_process');
  try {
    return execFileSync('/bin/sh', ['-c', command], {
      encoding: 'utf8',
      timeout: 30_000,
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 1024 * 1024,
    });
  } catch (err) {
    // The command's output may hold the key: only the exit status is reported.
    const status = (err as { status?: number | null }).status;
    throw new AirlockError(
      'AIRLOCK_ERR_CRYPTO_KEY_UNREADABLE',
      `${from}: the key command failed${typeof status === 'number' ? ` (exit ${status})` : ''}`,
      { details: { from } },
    );
  }
}

/**
 * The configured Fernet keys, or `undefined` when none is configured and no key file exists.
 *
 * @throws AirlockError `AIRLOCK_ERR_CRYPTO_KEY_INVALID` (naming the source and the key's
 *   position), `AIRLOCK_ERR_CRYPTO_KEY_MISSING` (the source is set but blank),
 *   `AIRLOCK_ERR_CRYPTO_KEY_UNREADABLE` (the command failed, the file cannot be read).
 * @example
 * ```ts
 * const loaded = loadFernetKeys(config.core.fernetKey, config.home);
 * loaded?.keys.encrypt('x');
 * ```
 */
export function loadFernetKeys(
  setting: FernetKeySetting | null,
  home: string,
): LoadedKeys | undefined {
  if (setting !== null) {
    const text =
      setting.command === undefined ? setting.value : runKeyCommand(setting.from, setting.command);
    return { keys: parseFrom(setting.from, text ?? ''), from: setting.from };
  }
  const path = keyFilePath(home);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    if (code === 'ENOENT') return undefined;
    throw new AirlockError(
      'AIRLOCK_ERR_CRYPTO_KEY_UNREADABLE',
      `cannot read the Fernet key file \`${path}\` (${code})`,
      { details: { path, errno: code } },
    );
  }
  return { keys: parseFrom(`\`${path}\``, text), from: path };
}

/**
 * Writes a new random key to `$AIRLOCK_HOME/fernet.key` (mode 0600, the folder 0700 when it is
 * created). When another process wrote the file first, its key is used instead: the file is
 * created exclusively, never overwritten.
 *
 * @example
 * ```ts
 * const { path, created } = generateKeyFile(config.home);
 * ```
 */
export function generateKeyFile(home: string): LoadedKeys & { path: string; created: boolean } {
  const path = keyFilePath(home);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, `${Fernet.generateKey()}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    if (code !== 'EEXIST') {
      throw new AirlockError(
        'AIRLOCK_ERR_CRYPTO_KEY_UNREADABLE',
        `cannot write the Fernet key file \`${path}\` (${code})`,
        { details: { path, errno: code } },
      );
    }
    const existing = loadFernetKeys(null, home);
    if (existing) return { ...existing, path, created: false };
  }
  const created = loadFernetKeys(null, home);
  if (!created) {
    throw new AirlockError(
      'AIRLOCK_ERR_CRYPTO_KEY_UNREADABLE',
      `the Fernet key file \`${path}\` vanished after it was written`,
      { details: { path } },
    );
  }
  return { ...created, path, created: true };
}
