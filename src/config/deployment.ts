/**
 * @module config/deployment
 * The deployment's configuration: the process's environment overlaid with the deployment settings
 * kept in the metastore (the server's Deployment page, `PUT /api/v1/settings/{name}`). One rule
 * everywhere — the CLI, workers, the server and the processes they start: **a deployment setting
 * wins over the process's variable of the same name**, as a Deployment's environment wins over an
 * image's.
 *
 * The names that locate and decrypt the metastore itself (`AIRLOCK_HOME`, the database URL, the
 * Fernet key) come from the process's environment only: the settings are read with them.
 *
 * Reading the settings is light: `node:sqlite` (no query builder) for the embedded store, one
 * `pg` client with a deadline for PostgreSQL. A store that cannot be read leaves the environment
 * alone, and the caller says so.
 */
import { existsSync } from 'node:fs';
import { AirlockError, isAirlockError } from '../errors.ts';
import { settingApplies } from './runtime-settings.ts';
import type { Config } from './schema.ts';
import { ENV } from './schema.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** One deployment setting, decrypted. */
export interface DeploymentSetting {
  readonly name: string;
  readonly value: string;
  readonly secret: boolean;
}

/** Where a configuration name's value came from. */
export type SettingOrigin = 'environment' | 'deployment setting' | 'default';

/** The settings a metastore holds, or why they could not be read. */
export interface DeploymentSettingsRead {
  readonly settings: readonly DeploymentSetting[];
  /** Set when the metastore exists but its settings could not be read: the code and a reason. */
  readonly unavailable?: { readonly code: string; readonly message: string };
}

/** Names never taken from the settings: they say where the settings are and how to read them. */
export const PROCESS_ONLY_NAMES: ReadonlySet<string> = new Set<string>([
  ENV.home,
  ...ENV.databaseUrl,
  ...ENV.fernetKey,
]);

/** How long reading the settings of a PostgreSQL metastore may take. */
const POSTGRES_DEADLINE_MS = 5_000;

interface Row {
  name: string;
  value: string;
  is_secret: unknown;
}

async function sqliteRows(path: string): Promise<Row[] | undefined> {
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(path, { readOnly: true, timeout: 2_000 });
  try {
    const table = db
      .prepare("select 1 from sqlite_master where type = 'table' and name = 'airlock_setting'")
      .get();
    if (!table) return undefined;
    return db
      .prepare('select name, value, is_secret from airlock_setting')
      .all() as unknown as Row[];
  } finally {
    db.close();
  }
}

/** The deadline: {@link POSTGRES_DEADLINE_MS}, or the URL's `connect_timeout` (seconds) if shorter. */
function postgresDeadlineMs(connectionString: string): number {
  const match = /[?&]connect_timeout=(\d+)/.exec(connectionString);
  const seconds = match ? Number(match[1]) : Number.NaN;
  return seconds > 0 ? Math.min(POSTGRES_DEADLINE_MS, seconds * 1000) : POSTGRES_DEADLINE_MS;
}

async function postgresRows(connectionString: string): Promise<Row[] | undefined> {
  const pg = (await import('pg')).default;
  const deadline = postgresDeadlineMs(connectionString);
  const client = new pg.Client({
    connectionString,
    connectionTimeoutMillis: deadline,
    query_timeout: deadline,
    statement_timeout: deadline,
  });
  // A server that drops the connection later must not crash the process.
  client.on('error', () => {});
  await client.connect();
  try {
    const found = await client.query("select to_regclass('airlock_setting') is not null as ok");
    if (!found.rows[0]?.ok) return undefined;
    return (await client.query('select name, value, is_secret from airlock_setting')).rows as Row[];
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * The deployment settings of the metastore `config` names, decrypted with its Fernet keys; none
 * when there is no metastore yet.
 *
 * @example
 * ```ts
 * const { settings, unavailable } = await readDeploymentSettings(loadConfig(process.env));
 * ```
 */
export async function readDeploymentSettings(
  config: Config,
  options: { cwd?: string } = {},
): Promise<DeploymentSettingsRead> {
  try {
    const { parseDatabaseUrl } = await import('../metastore/database-url.ts');
    const target = parseDatabaseUrl(config.database.url, options.cwd);
    let rows: Row[] | undefined;
    if (target.kind === 'sqlite') {
      if (target.path === ':memory:' || !existsSync(target.path)) return { settings: [] };
      rows = await sqliteRows(target.path);
    } else {
      rows = await postgresRows(target.connectionString);
    }
    if (!rows || rows.length === 0) return { settings: [] };
    const { loadFernetKeys } = await import('../metastore/keys.ts');
    const keys = loadFernetKeys(config.core.fernetKey, config.home)?.keys;
    if (!keys) {
      throw new AirlockError(
        'AIRLOCK_ERR_CRYPTO_KEY_MISSING',
        'the deployment settings are encrypted and no Fernet key is configured',
      );
    }
    return {
      settings: rows
        .map((r) => ({
          name: r.name,
          value: keys.decryptToString(r.value),
          secret: Boolean(Number(r.is_secret) || r.is_secret === true),
        }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    };
  } catch (err) {
    const code = isAirlockError(err)
      ? err.code
      : ((err as NodeJS.ErrnoException).code ?? 'AIRLOCK_ERR_STORE_UNAVAILABLE');
    // Only the code: a driver's message may quote the URL.
    const message = isAirlockError(err) ? err.message : `the metastore could not be read (${code})`;
    return { settings: [], unavailable: { code, message } };
  }
}

/**
 * `env` overlaid with `settings` (a setting wins; the metastore's own location and keys stay the
 * process's), and where each overlaid or set name came from.
 *
 * @example
 * ```ts
 * const { env, origins } = overlaySettings(process.env, settings);
 * origins.get('AIRFLOW__SECRETS__BACKEND'); // 'deployment setting'
 * ```
 */
export function overlaySettings(
  env: Env,
  settings: readonly DeploymentSetting[],
): { env: Env; origins: ReadonlyMap<string, SettingOrigin> } {
  const out: Record<string, string | undefined> = { ...env };
  const origins = new Map<string, SettingOrigin>();
  for (const [name, value] of Object.entries(env))
    if (value !== undefined) origins.set(name, 'environment');
  for (const setting of settings) {
    if (PROCESS_ONLY_NAMES.has(setting.name)) continue;
    // A name that controls spawned programs applies only where the process allows it.
    if (!settingApplies(setting.name, env)) continue;
    out[setting.name] = setting.value;
    origins.set(setting.name, 'deployment setting');
  }
  return { env: Object.freeze(out), origins };
}

/** Where the configuration name `name` came from (`default` when nothing set it). */
export function originOf(
  name: string | null,
  origins: ReadonlyMap<string, SettingOrigin>,
): SettingOrigin {
  return name === null ? 'default' : (origins.get(name) ?? 'default');
}
