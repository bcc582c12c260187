/**
 * @module config/read-config
 * Reads airlock's configuration from the environment, Airflow-compatibly, checks all of it at
 * once and returns it frozen. Every problem is reported as `NAME.path: message`, never with
 * the offending value (kwargs hold credentials).
 *
 * This module loads no backend module and no zod by itself: the kwargs of a configured backend
 * are checked with that backend's schema, from the modules the caller gives
 * ({@link readConfig}) or that {@link loadConfigAsync} loads (only those of the backends
 * configured). The configuration returned holds each backend's factory: what was loaded to
 * read it is what builds the chain. `load-config.ts` has the synchronous `loadConfig`, which
 * uses every backend module.
 */
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { z } from 'zod';
import {
  type BackendEntry,
  EXTERNAL_BACKEND_NAMES,
  type ExternalBackendName,
} from '../backends/backend.ts';
import { loadBackend, resolveBackendType } from '../backends/names.ts';
import { AirlockError, ConfigError, isAirlockError } from '../errors.ts';
import { defaultDatabaseUrl, parseDatabaseUrl } from '../metastore/database-url.ts';
import { safeJsonParse } from '../util/json.ts';
import { parseBoolean, pick, readMaskingSettings } from './masking-settings.ts';
import { type BackendConfig, type Config, ENV, type FernetKeySetting } from './schema.ts';

export { type MaskingSettings, readMaskingSettings } from './masking-settings.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** The modules a configuration is checked with. */
export interface ConfigModules {
  /** A backend's module, or `undefined` when the caller has not loaded it. */
  backend(type: ExternalBackendName): BackendEntry | undefined;
  /**
   * Checks a literal Fernet key list (`parseFernetKeys`). Optional: the Fernet module (and
   * `node:crypto`) loads only when a key is configured as a value.
   */
  checkKeys?: ((value: string) => unknown) | undefined;
}

/** What one pass over the environment needs: the modules it has, those it lacked. */
interface Pass {
  modules: ConfigModules;
  missing: Set<ExternalBackendName>;
  missingKeyCheck?: boolean;
}

/** No module loaded: enough for a configuration that names no backend and no literal key. */
const NO_MODULES: ConfigModules = { backend: () => undefined };

/** The first of `names` that is set (to anything, even empty), with its value. */
function zodIssues(prefix: string, error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    const where = path === '' ? prefix : `${prefix}.${path}`;
    // zod's default messages name types and keys, not the values given.
    return `${where}: ${issue.message}`;
  });
}

function parseBackend(
  pass: Pass,
  where: string,
  typeText: string,
  kwargs: unknown,
  issues: string[],
): BackendConfig | undefined {
  const type = resolveBackendType(typeText);
  if (type === undefined) {
    issues.push(
      `${where}: unknown backend \`${typeText.trim()}\`; use an Airflow class path or one of ${EXTERNAL_BACKEND_NAMES.join(', ')}`,
    );
    return undefined;
  }
  if (kwargs === null || typeof kwargs !== 'object' || Array.isArray(kwargs)) {
    issues.push(`${where} kwargs: must be a JSON object`);
    return undefined;
  }
  const entry = pass.modules.backend(type);
  if (!entry) {
    // Checked in a second pass, once the backend's module is loaded.
    pass.missing.add(type);
    return undefined;
  }
  const parsed = entry.optionsSchema.safeParse(kwargs);
  if (!parsed.success) {
    issues.push(...zodIssues(`${where} kwargs (${type})`, parsed.error));
    return undefined;
  }
  const options = parsed.data;
  return { type, kwargs: options, create: (deps) => entry.create({ ...options }, deps) };
}

/** Airflow's boolean words (`conf.getboolean`). */
/** A whole number of seconds (or entries) ≥ `min`. */
function parseCount(
  name: string,
  value: string,
  min: number,
  issues: string[],
): number | undefined {
  const text = value.trim();
  if (/^\d+$/.test(text) && Number(text) >= min) return Number(text);
  issues.push(`${name}: must be a whole number${min > 0 ? ` ≥ ${min}` : ' of seconds'}`);
  return undefined;
}

/** The cache settings; see `docs/cache.md` for the defaults and why. */
function loadCache(env: Env, issues: string[]): Config['secrets']['cache'] {
  const number = (names: readonly string[], fallback: number, min = 0): number => {
    const set = pick(env, names);
    if (set === undefined || set.value.trim() === '') return fallback;
    return parseCount(set.name, set.value, min, issues) ?? fallback;
  };
  const use = pick(env, ENV.useCache);
  const enabled =
    use === undefined || use.value.trim() === ''
      ? true
      : (parseBoolean(use.name, use.value, issues) ?? true);
  const ttl = number(ENV.cacheTtlSeconds, 900);
  const ttlSeconds = {
    variable: number(ENV.variablesCacheTtlSeconds, ttl),
    connection: number(ENV.connectionsCacheTtlSeconds, ttl),
  };
  const negativeTtlSeconds = number(ENV.negativeCacheTtlSeconds, 30);
  const maxStaleSeconds = number(ENV.maxStaleSeconds, 0);
  const maxEntries = number(ENV.cacheMaxEntries, 10_000, 1);
  const shared = pick(env, ENV.sharedCacheUrl);
  let sharedUrl: string | null = null;
  if (shared !== undefined && shared.value.trim() !== '') {
    sharedUrl = shared.value.trim();
    // The URL may hold a password: only its scheme is ever named.
    if (!/^redis:\/\//i.test(sharedUrl)) {
      issues.push(`${shared.name}: only redis:// URLs are supported`);
    }
  }
  const sharedTimeoutMs = number(ENV.sharedCacheTimeoutMs, 1000, 1);
  return {
    enabled,
    ttlSeconds,
    negativeTtlSeconds,
    maxStaleSeconds,
    maxEntries,
    sharedUrl,
    sharedTimeoutMs,
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

function loadBackends(
  pass: Pass,
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
      const backend = parseBackend(pass, where, type, kwargs ?? {}, issues);
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
  const backend = parseBackend(pass, single.name, single.value, kwargs, issues);
  return { backends: backend ? [backend] : [], configuredBy: single.name };
}

/** The first non-blank Fernet key setting; a literal key list is checked here, once. */
function loadFernetKey(pass: Pass, env: Env, issues: string[]): FernetKeySetting | null {
  for (const name of ENV.fernetKey) {
    const value = env[name];
    // Airflow treats an empty key as "not configured"; so does airlock.
    if (value === undefined || value.trim() === '') continue;
    if (name.endsWith('_CMD')) return { from: name, command: value };
    try {
      const check = pass.modules.checkKeys;
      if (check) check(value);
      else pass.missingKeyCheck = true;
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

/** One pass over `env`; throws the {@link ConfigError} unless a backend's schema was missing. */
function read(env: Env, pass: Pass): Config {
  const issues: string[] = [];
  const homeText = env[ENV.home];
  const home = resolve(
    homeText !== undefined && homeText.trim() !== '' ? homeText : `${homedir()}/airlock`,
  );
  const { backends, configuredBy } = loadBackends(pass, env, issues);

  const fallthrough = pick(env, ENV.fallthroughOnError);
  const fallthroughOnError =
    fallthrough === undefined
      ? false
      : (parseBoolean(fallthrough.name, fallthrough.value, issues) ?? false);

  const lookupTimeout = pick(env, ENV.lookupTimeoutSeconds);
  const lookupTimeoutSeconds =
    lookupTimeout === undefined || lookupTimeout.value.trim() === ''
      ? 30
      : (parseCount(lookupTimeout.name, lookupTimeout.value, 0, issues) ?? 30);

  const { sensitiveVarConnNames, hideSensitiveVarConnFields } = readMaskingSettings(env, issues);

  const maskAll = pick(env, ENV.maskAllResolved);
  const maskAllResolved =
    maskAll === undefined ? null : (parseBoolean(maskAll.name, maskAll.value, issues) ?? null);

  const cache = loadCache(env, issues);
  const fernetKey = loadFernetKey(pass, env, issues);
  const database = loadDatabase(env, home, issues);

  if (issues.length > 0 && pass.missing.size === 0 && !pass.missingKeyCheck) {
    throw new ConfigError(issues);
  }
  return deepFreeze({
    home,
    secrets: { backends, configuredBy, fallthroughOnError, lookupTimeoutSeconds, cache },
    core: { sensitiveVarConnNames, hideSensitiveVarConnFields, maskAllResolved, fernetKey },
    database,
  });
}

/**
 * Reads and checks the configuration with the modules given: everything when no external
 * backend and no literal Fernet key is configured (the environment-only path loads no backend
 * module, no zod).
 *
 * @throws ConfigError listing every problem.
 * @throws AirlockError `AIRLOCK_ERR_INTERNAL` when a configured backend's module (or the Fernet
 *   key check) is not among `modules` (use {@link loadConfigAsync}, or `loadConfig` from
 *   `load-config.ts`).
 * @example
 * ```ts
 * readConfig({ AIRLOCK_HOME: '/srv/airlock' }).home; // '/srv/airlock'
 * ```
 */
export function readConfig(env: Env = process.env, modules: ConfigModules = NO_MODULES): Config {
  const pass: Pass = { modules, missing: new Set() };
  const config = read(env, pass);
  if (pass.missingKeyCheck) {
    throw new AirlockError(
      'AIRLOCK_ERR_INTERNAL',
      'the configuration holds a Fernet key and the Fernet module is not loaded; load it with loadConfigAsync',
    );
  }
  if (pass.missing.size > 0) {
    throw new AirlockError(
      'AIRLOCK_ERR_INTERNAL',
      `the configuration names backends whose modules are not loaded (${[...pass.missing].join(', ')}); load it with loadConfigAsync`,
    );
  }
  return config;
}

/**
 * Reads and checks the configuration from `env`, loading the modules of the configured backends
 * (and only those) to check their kwargs; rejects with one {@link ConfigError} listing every
 * problem.
 *
 * @example
 * ```ts
 * const config = await loadConfigAsync({
 *   AIRFLOW__SECRETS__BACKEND: 'airflow.secrets.local_filesystem.LocalFilesystemBackend',
 *   AIRFLOW__SECRETS__BACKEND_KWARGS: '{"variables_file_path": "/etc/vars.json"}',
 * });
 * config.secrets.backends[0]?.type; // 'local-file'
 * ```
 */
export async function loadConfigAsync(env: Env = process.env): Promise<Config> {
  const first: Pass = { modules: NO_MODULES, missing: new Set() };
  const config = read(env, first);
  if (first.missing.size === 0 && !first.missingKeyCheck) return config;
  const types = [...first.missing];
  const [entries, checkKeys] = await Promise.all([
    Promise.all(types.map((type) => loadBackend(type))),
    first.missingKeyCheck
      ? import('../metastore/fernet.ts').then((m) => m.parseFernetKeys)
      : undefined,
  ]);
  const loaded = new Map(types.map((type, i) => [type, entries[i] as BackendEntry]));
  return readConfig(env, { backend: (type) => loaded.get(type), checkKeys });
}
