/**
 * @module metastore/open
 * Opens the metastore the configuration describes, for one purpose:
 *
 * - `read` (a lookup through the chain): a SQLite file that does not exist yet is an empty
 *   metastore, so nothing is created; an existing database is migrated on first use;
 * - `write` (set, add, delete, import, rotate) and `migrate` (`airlock db migrate`): the file and
 *   its folder are created, the schema migrated, and, when no Fernet key is configured and the
 *   metastore holds no encrypted value yet, a key is generated into `$AIRLOCK_HOME/fernet.key`;
 * - `check` (`airlock db check`, `airlock db check-migrations`): nothing is created or migrated.
 */
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from '../config/schema.ts';
import { AirlockError } from '../errors.ts';
import { parseDatabaseUrl } from './database-url.ts';
import { generateKeyFile, loadFernetKeys } from './keys.ts';
import { Metastore } from './metastore.ts';

function storeUnavailable(path: string, err: unknown): AirlockError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  return new AirlockError(
    'AIRLOCK_ERR_STORE_UNAVAILABLE',
    `metastore: cannot create the database file \`${path}\` (${code})`,
    { details: { path, errno: code } },
  );
}

/** What the metastore is opened for. */
export type OpenIntent = 'read' | 'write' | 'migrate' | 'check';

/** Options of {@link openMetastoreFromConfig}. */
export interface OpenMetastoreOptions {
  intent: OpenIntent;
  /** Receives what the user should know: a generated key, a schema created on first use. */
  onNotice?: (message: string) => void;
  /**
   * The folder a relative SQLite path is relative to.
   * @default process.cwd()
   */
  cwd?: string;
}

/**
 * The metastore of `config`, or `undefined` for `read` / `check` when its SQLite file does not
 * exist yet.
 *
 * @throws AirlockError `AIRLOCK_ERR_STORE_UNAVAILABLE`, `AIRLOCK_ERR_MIGRATION_*`, the key
 *   errors of `loadFernetKeys`, and `AIRLOCK_ERR_CRYPTO_KEY_MISSING` when a write needs a key,
 *   none is configured, and the metastore already holds encrypted values (a new key could not
 *   read them).
 * @example
 * ```ts
 * const store = await openMetastoreFromConfig(loadConfig(), { intent: 'write', onNotice: console.error });
 * ```
 */
export async function openMetastoreFromConfig(
  config: Config,
  options: OpenMetastoreOptions,
): Promise<Metastore | undefined> {
  const { intent } = options;
  const cwd = options.cwd ?? process.cwd();
  const target = parseDatabaseUrl(config.database.url, cwd);
  if (target.kind === 'sqlite' && target.path === ':memory:' && intent !== 'read') {
    // Each process gets its own empty database that dies with it: a write would be reported
    // done and lost at exit.
    throw new AirlockError(
      'AIRLOCK_ERR_CONFIG_INVALID',
      'invalid configuration: the metastore URL names an in-memory SQLite database (`sqlite://`, `sqlite:///` or `:memory:`), which loses every write when the command exits; use sqlite:////absolute/path.db or postgresql://…',
    );
  }
  if (target.kind === 'sqlite' && target.path !== ':memory:' && !existsSync(target.path)) {
    if (intent === 'read' || intent === 'check') return undefined;
    try {
      mkdirSync(dirname(target.path), { recursive: true, mode: 0o700 });
    } catch (err) {
      throw storeUnavailable(target.path, err);
    }
    // The file holds logins and hosts in clear (as Airflow's does): owner-only from the start.
    // SQLite gives its -wal and -shm files the same mode.
    try {
      closeSync(openSync(target.path, 'wx', 0o600));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
        throw storeUnavailable(target.path, err);
    }
  }
  const loaded = loadFernetKeys(config.core.fernetKey, config.home);
  const store = await Metastore.open({
    url: config.database.url,
    keys: loaded?.keys,
    migrate: intent !== 'check',
    cwd,
  });
  try {
    if (store.migrated.length > 0 && intent !== 'migrate') {
      options.onNotice?.(
        `created the metastore schema (version ${store.migrated.at(-1)}) in ${store.url}`,
      );
    }
    if (!loaded && (intent === 'write' || intent === 'migrate')) {
      if (await store.hasEncryptedRows()) {
        throw new AirlockError(
          'AIRLOCK_ERR_CRYPTO_KEY_MISSING',
          `the metastore (${store.url}) holds encrypted values but no Fernet key is configured; set AIRLOCK__CORE__FERNET_KEY (or AIRFLOW__CORE__FERNET_KEY) to the key they were written with`,
        );
      }
      const generated = generateKeyFile(config.home);
      store.useKeys(generated.keys);
      if (generated.created) {
        options.onNotice?.(
          `generated a new Fernet key in ${generated.path} (mode 0600); back it up: without it ` +
            'the metastore cannot be decrypted. Every machine that uses this metastore needs it ' +
            '(or set AIRLOCK__CORE__FERNET_KEY to it)',
        );
      }
    }
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
