/**
 * @module config/load-config
 * Reads airlock's configuration from the environment, Airflow-compatibly, checks all of it at
 * once and returns it frozen. Every problem is reported as `NAME.path: message`, never with
 * the offending value (kwargs hold credentials).
 */
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { BACKENDS, resolveBackendType } from '../backends/registry.ts';
import { ConfigError, isAirlockError } from '../errors.ts';
import { defaultDatabaseUrl, parseDatabaseUrl } from '../metastore/database-url.ts';
import { parseFernetKeys } from '../metastore/fernet.ts';
import { safeJsonParse } from '../util/json.ts';
import { type BackendConfig, type Config, ENV, type FernetKeySetting } from './schema.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** The first of `names` that is set (to anything, even empty), with its value. */
function pick(env: Env, names: readonly string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined) return { name, value };
  }
  return undefined;
}

function zodIssues(prefix: string, error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    const where = path === '' ? prefix : `${prefix}.${path}`;
    // zod's default messages name types and keys, not the values given.
    return `${where}: ${issue.message}`;
  });
}

function parseBackend(
  where: string,
  typeText: string,
  kwargs: unknown,
  issues: string[],
): BackendConfig | undefined {
  const type = resolveBackendType(typeText);
  if (type === undefined) {
    issues.push(
      `${where}: unknown backend \`${typeText.trim()}\`; use an Airflow class path or one of ${Object.keys(BACKENDS).join(', ')}`,
    );
    return undefined;
  }
  if (kwargs === null || typeof kwargs !== 'object' || Array.isArray(kwargs)) {
    issues.push(`${where} kwargs: must be a JSON object`);
    return undefined;
  }
  const parsed = BACKENDS[type].optionsSchema.safeParse(kwargs);
  if (!parsed.success) {
    issues.push(...zodIssues(`${where} kwargs (${type})`, parsed.error));
    return undefined;
  }
  return { type, kwargs: parsed.data };
}

/** Airflow's boolean words (`conf.getboolean`). */
function parseBoolean(name: string, value: string, issues: string[]): boolean | undefined {
  const v = value.trim().toLowerCase();
  if (['t', 'true', '1'].includes(v)) return true;
  if (['f', 'false', '0'].includes(v)) return false;
  issues.push(`${name}: must be true or false`);
  return undefined;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

function loadBackends(
  env: Env,
  issues: string[],
): Pick<Config['secrets'], 'backends' | 'configuredBy'> {
  const list = env[ENV.backends];
  const single = pick(env, ENV.backend);
  const kwargsVar = pick(env, ENV.backendKwargs);

  if (list !== undefined && list.trim() !== '') {
    if (single !== undefined && single.value.trim() !== '') {
      issues.push(
        `${ENV.backends}: cannot be combined with ${single.name}; configure every backend in the list`,
      );
    }
    const parsed = safeJsonParse(list);
    if (!parsed.ok) {
      issues.push(`${ENV.backends}: ${parsed.message}`);
      return { backends: [], configuredBy: ENV.backends };
    }
    if (!Array.isArray(parsed.value)) {
      issues.push(`${ENV.backends}: must be a JSON list of {"type": …, "kwargs": {…}}`);
      return { backends: [], configuredBy: ENV.backends };
    }
    const backends: BackendConfig[] = [];
    parsed.value.forEach((item: unknown, index) => {
      const where = `${ENV.backends}[${index}]`;
      if (item === null || typeof item !== 'object' || Array.isArray(item)) {
        issues.push(`${where}: must be an object {"type": …, "kwargs": {…}}`);
        return;
      }
      const { type, kwargs = {}, ...rest } = item as Record<string, unknown>;
      for (const key of Object.keys(rest)) issues.push(`${where}: unknown key \`${key}\``);
      if (typeof type !== 'string') {
        issues.push(`${where}.type: must be a backend name or an Airflow class path`);
        return;
      }
      const backend = parseBackend(where, type, kwargs ?? {}, issues);
      if (backend) backends.push(backend);
    });
    return { backends, configuredBy: ENV.backends };
  }

  if (single === undefined || single.value.trim() === '') {
    if (kwargsVar !== undefined && kwargsVar.value.trim() !== '') {
      issues.push(`${kwargsVar.name}: is set but no backend is (set ${ENV.backend.join(' or ')})`);
    }
    return { backends: [], configuredBy: null };
  }
  let kwargs: unknown = {};
  // The kwargs that go with the backend are the ones of the same family when both are set.
  const twin = single.name.replace(/BACKEND$/, 'BACKEND_KWARGS');
  const kwargsText = env[twin] ?? kwargsVar?.value;
  const kwargsName = env[twin] !== undefined ? twin : (kwargsVar?.name ?? twin);
  if (kwargsText !== undefined && kwargsText.trim() !== '') {
    // Airflow warns and uses {} on bad JSON; airlock refuses to start (it would silently
    // talk to the wrong store or with the wrong credentials).
    const parsed = safeJsonParse(kwargsText);
    if (!parsed.ok) {
      issues.push(`${kwargsName}: ${parsed.message}`);
      return { backends: [], configuredBy: single.name };
    }
    kwargs = parsed.value;
  }
  const backend = parseBackend(single.name, single.value, kwargs, issues);
  return { backends: backend ? [backend] : [], configuredBy: single.name };
}

/** The first non-blank Fernet key setting; a literal key list is checked here, once. */
function loadFernetKey(env: Env, issues: string[]): FernetKeySetting | null {
  for (const name of ENV.fernetKey) {
    const value = env[name];
    // Airflow treats an empty key as "not configured"; so does airlock.
    if (value === undefined || value.trim() === '') continue;
    if (name.endsWith('_CMD')) return { from: name, command: value };
    try {
      parseFernetKeys(value);
    } catch (err) {
      // The message names the key's position, never the key.
      issues.push(`${name}: ${isAirlockError(err) ? err.message : 'is not a Fernet key list'}`);
    }
    return { from: name, value };
  }
  return null;
}

function loadDatabase(env: Env, home: string, issues: string[]): Config['database'] {
  const set = ENV.databaseUrl
    .map((name) => ({ name, value: env[name] }))
    .find((entry) => entry.value !== undefined && entry.value.trim() !== '');
  if (set?.value === undefined) return { url: defaultDatabaseUrl(home), configuredBy: null };
  try {
    parseDatabaseUrl(set.value);
  } catch (err) {
    // The message names the problem and the scheme, never the URL (it may hold a password).
    issues.push(
      `${set.name}: ${isAirlockError(err) ? err.message.replace(/^database URL: /, '') : 'is not a database URL'}`,
    );
  }
  return { url: set.value.trim(), configuredBy: set.name };
}

/**
 * Reads and checks the configuration from `env`; throws one {@link ConfigError} listing every
 * problem.
 *
 * @example
 * ```ts
 * const config = loadConfig({
 *   AIRFLOW__SECRETS__BACKEND: 'airflow.secrets.local_filesystem.LocalFilesystemBackend',
 *   AIRFLOW__SECRETS__BACKEND_KWARGS: '{"variables_file_path": "/etc/vars.json"}',
 * });
 * config.secrets.backends[0]?.type; // 'local-file'
 * ```
 */
export function loadConfig(env: Env = process.env): Config {
  const issues: string[] = [];
  const homeText = env[ENV.home];
  const home = resolve(
    homeText !== undefined && homeText.trim() !== '' ? homeText : `${homedir()}/airlock`,
  );
  const { backends, configuredBy } = loadBackends(env, issues);

  const fallthrough = pick(env, ENV.fallthroughOnError);
  const fallthroughOnError =
    fallthrough === undefined
      ? false
      : (parseBoolean(fallthrough.name, fallthrough.value, issues) ?? false);

  const sensitive = pick(env, ENV.sensitiveVarConnNames);
  const sensitiveVarConnNames = (sensitive?.value ?? '')
    .split(',')
    .map((word) => word.trim())
    .filter((word) => word !== '');
  const hide = pick(env, ENV.hideSensitiveVarConnFields);
  const hideSensitiveVarConnFields =
    hide === undefined ? true : (parseBoolean(hide.name, hide.value, issues) ?? true);

  const fernetKey = loadFernetKey(env, issues);
  const database = loadDatabase(env, home, issues);

  if (issues.length > 0) throw new ConfigError(issues);
  return deepFreeze({
    home,
    secrets: { backends, configuredBy, fallthroughOnError },
    core: { sensitiveVarConnNames, hideSensitiveVarConnFields, fernetKey },
    database,
  });
}
