/**
 * @module masking/deployment
 * The deployment's own secrets, registered with a masker from an environment (the process's,
 * overlaid with the deployment settings): every supervisor (worker, `dags test`, `tasks test`,
 * the server and its DAG discovery) knows them from the start, so that output reaching a pipe
 * some other way (a task printing its environment, a grandchild running `env`) is masked too.
 *
 * What is registered:
 * - every credential-like field inside the backend kwargs (`AIRFLOW__SECRETS__BACKEND_KWARGS`,
 *   `AIRLOCK__SECRETS__BACKEND_KWARGS`, the kwargs of `AIRLOCK__SECRETS__BACKENDS`), by
 *   Airflow's sensitive-name rule applied to the parsed object, nested;
 * - the Fernet key(s) (`*__CORE__FERNET_KEY`, each key of the list, and `$AIRLOCK_HOME/fernet.key`);
 * - the passwords of the metastore URL and of the shared cache URL;
 * - every variable whose name is sensitive (`AIRLOCK_ADMIN_PASSWORD`, `AWS_SECRET_ACCESS_KEY`,
 *   `VAULT_TOKEN`, …), whole;
 * - `AIRFLOW_VAR_*` and `AIRFLOW_CONN_*` by the rule their lookup follows (a Variable when its key
 *   is sensitive, a Connection's password and sensitive extras).
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { ENV } from '../config/schema.ts';
import { keyFilePath } from '../metastore/keys.ts';
import { Connection } from '../model/connection.ts';
import { registerResolved } from '../resolver/resolver.ts';
import { safeJsonParse } from '../util/json.ts';
import type { SecretsMasker } from './masker.ts';
import { isSensitiveName } from './sensitive-keys.ts';

type Env = Readonly<Record<string, string | undefined>>;

const KWARGS_NAMES: ReadonlySet<string> = new Set([...ENV.backendKwargs, ENV.backends]);
const FERNET_NAMES: ReadonlySet<string> = new Set(
  ENV.fernetKey.filter((name) => !name.endsWith('_CMD')),
);
const URL_NAMES: ReadonlySet<string> = new Set([...ENV.databaseUrl, ...ENV.sharedCacheUrl]);
/** Values no name makes worth masking: masking them would shred every line. */
const PLAIN_WORDS = new Set(['true', 'false', 'none', 'null']);

/** The password in a URL's authority (raw and decoded) or in a `password=` parameter. */
function urlPasswords(url: string): string[] {
  const out: string[] = [];
  const authority = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:([^/?#@]*)@/i.exec(url);
  const param = /[?&]password=([^&#]*)/i.exec(url);
  for (const raw of [authority?.[1], param?.[1]]) {
    if (!raw) continue;
    out.push(raw);
    try {
      out.push(decodeURIComponent(raw));
    } catch {
      // not percent-encoded: the raw form is registered
    }
  }
  return out;
}

/**
 * Registers the credentials in backend kwargs text (a JSON object, or the JSON list of
 * `AIRLOCK__SECRETS__BACKENDS`): each value under a sensitive key, at any depth.
 */
export function registerKwargsSecrets(masker: SecretsMasker, text: string): void {
  if (!/^\s*[[{]/.test(text)) return;
  const parsed = safeJsonParse(text);
  if (parsed.ok) masker.add(parsed.value);
}

/**
 * Registers the secrets an environment holds (see the module's list) with `masker`.
 *
 * @example
 * ```ts
 * registerEnvironmentSecrets(masker, { AIRLOCK_ADMIN_PASSWORD: 'pw…', AIRFLOW__SECRETS__BACKEND_KWARGS: '{"token": "…"}' });
 * ```
 */
export function registerEnvironmentSecrets(masker: SecretsMasker, env: Env): void {
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || value.trim() === '') continue;
    if (KWARGS_NAMES.has(name)) {
      registerKwargsSecrets(masker, value);
    } else if (FERNET_NAMES.has(name)) {
      masker.addSecret(value.trim());
      for (const key of value.split(',')) masker.addSecret(key.trim());
    } else if (URL_NAMES.has(name)) {
      for (const password of urlPasswords(value)) masker.addSecret(password);
    } else if (name.startsWith('AIRFLOW_VAR_')) {
      registerResolved(
        masker,
        'variable',
        name.slice('AIRFLOW_VAR_'.length).toLowerCase(),
        value,
        false,
      );
    } else if (name.startsWith('AIRFLOW_CONN_')) {
      const connId = name.slice('AIRFLOW_CONN_'.length).toLowerCase();
      try {
        registerResolved(
          masker,
          'connection',
          connId,
          Connection.deserialize(connId, value),
          false,
        );
      } catch {
        // A connection that does not parse cannot be used, but its text may hold a password.
        masker.addSecret(value);
      }
    }
    if (isSensitiveName(name) && !PLAIN_WORDS.has(value.trim().toLowerCase())) {
      masker.addSecret(value);
    }
  }
  const homeText = env[ENV.home];
  const home = resolve(homeText?.trim() ? homeText : `${homedir()}/airlock`);
  const keyFile = keyFilePath(home);
  // Asked first (without an error to build when there is none: a worker asks at every try).
  if (!statSync(keyFile, { throwIfNoEntry: false })) return;
  try {
    const text = readFileSync(keyFile, 'utf8');
    for (const key of text.split(/[\s,]+/)) masker.addSecret(key);
  } catch {
    // an unreadable key file: nothing to register
  }
}
