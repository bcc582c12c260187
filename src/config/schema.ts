/**
 * @module config/schema
 * The shape of airlock's effective configuration, and the env names it is read from.
 */
import type { ExternalBackendName } from '../backends/backend.ts';

/** One configured external backend: its short name and its parsed (Airflow-named) kwargs. */
export interface BackendConfig {
  readonly type: ExternalBackendName;
  readonly kwargs: Readonly<Record<string, unknown>>;
}

/** airlock's effective configuration, deeply frozen. */
export interface Config {
  /** Where airlock keeps local state (`AIRLOCK_HOME`). @default '~/airlock' */
  readonly home: string;
  readonly secrets: {
    /** External backends, consulted in this order before the environment and the metastore. */
    readonly backends: readonly BackendConfig[];
    /** The env variable(s) the backends were configured by, for `airlock config show`. */
    readonly configuredBy: string | null;
    /**
     * Airflow's behaviour: a backend that fails is logged and the next link is tried.
     * airlock fails closed unless this is set.
     * @default false
     */
    readonly fallthroughOnError: boolean;
  };
  readonly core: {
    /** Extra sensitive words (`sensitive_var_conn_names`). @default [] */
    readonly sensitiveVarConnNames: readonly string[];
    /** Whether sensitive names are masked at all (`hide_sensitive_var_conn_fields`). @default true */
    readonly hideSensitiveVarConnFields: boolean;
  };
}

/**
 * The env names airlock reads, in precedence order where two name the same setting
 * (an `AIRLOCK__` name wins over its `AIRFLOW__` twin).
 */
export const ENV = {
  home: 'AIRLOCK_HOME',
  backends: 'AIRLOCK__SECRETS__BACKENDS',
  backend: ['AIRLOCK__SECRETS__BACKEND', 'AIRFLOW__SECRETS__BACKEND'],
  backendKwargs: ['AIRLOCK__SECRETS__BACKEND_KWARGS', 'AIRFLOW__SECRETS__BACKEND_KWARGS'],
  fallthroughOnError: ['AIRLOCK__SECRETS__FALLTHROUGH_ON_ERROR'],
  sensitiveVarConnNames: [
    'AIRLOCK__CORE__SENSITIVE_VAR_CONN_NAMES',
    'AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES',
  ],
  hideSensitiveVarConnFields: [
    'AIRLOCK__CORE__HIDE_SENSITIVE_VAR_CONN_FIELDS',
    'AIRFLOW__CORE__HIDE_SENSITIVE_VAR_CONN_FIELDS',
  ],
} as const;
