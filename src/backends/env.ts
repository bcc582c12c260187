/**
 * @module backends/env
 * Airflow's `EnvironmentVariablesBackend`: `AIRFLOW_VAR_<KEY>` and `AIRFLOW_CONN_<CONN_ID>`.
 */
import type { SecretKind, SecretsBackend } from './backend.ts';

/** The short name of this backend. */
export const BACKEND_NAME = 'env' as const;

/** Dependencies of {@link createEnvBackend}. */
export interface EnvBackendDeps {
  /**
   * The environment to read.
   * @default process.env
   */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The environment variable Airflow reads for a Variable: `AIRFLOW_VAR_` + the upper-cased key. */
export function variableEnvName(key: string): string {
  // Only the id is upper-cased (Unicode-aware, like Python's str.upper); `-` and `.` stay.
  return `AIRFLOW_VAR_${key.toUpperCase()}`;
}

/** The environment variable Airflow reads for a Connection: `AIRFLOW_CONN_` + the upper-cased id. */
export function connectionEnvName(connId: string): string {
  return `AIRFLOW_CONN_${connId.toUpperCase()}`;
}

/**
 * Creates the environment backend.
 *
 * @example
 * ```ts
 * const env = createEnvBackend({ env: { AIRFLOW_VAR_HELLO: 'world' } });
 * await env.getVariable('hello'); // 'world'
 * ```
 */
export function createEnvBackend(deps: EnvBackendDeps = {}): SecretsBackend {
  const env = deps.env ?? process.env;
  // Env lookup is case-sensitive on POSIX: `AIRFLOW_VAR_my_key` is never found, as in Airflow.
  const read = (name: string): string | undefined =>
    Object.hasOwn(env, name) ? env[name] : undefined;
  // The environment cannot tell the key's case: AIRFLOW_VAR_DB_URL serves `db_url` (and
  // `DB_URL`); the lower-case form is listed.
  const keys = (kind: SecretKind) => {
    const head = kind === 'variable' ? 'AIRFLOW_VAR_' : 'AIRFLOW_CONN_';
    return Object.keys(env)
      .filter((name) => name.startsWith(head) && name.length > head.length)
      .map((name) => name.slice(head.length).toLowerCase());
  };
  return {
    name: BACKEND_NAME,
    async getVariable(key) {
      return read(variableEnvName(key));
    },
    async getConnectionValue(connId) {
      return read(connectionEnvName(connId));
    },
    listVariableKeys: async () => keys('variable'),
    listKeys: async (kind: SecretKind) => keys(kind),
    locate(kind: SecretKind, id: string) {
      return kind === 'variable' ? variableEnvName(id) : connectionEnvName(id);
    },
    describe() {
      return { type: BACKEND_NAME };
    },
  };
}
