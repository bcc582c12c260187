/**
 * @module pipelines/environment
 * What the pipeline commands share: the pipeline store over the metastore, the settings, the
 * task processes' environment (the process's environment overlaid with the deployment settings
 * the server keeps in the database), and `--conf` parsing.
 */
import type { Config } from '../config/schema.ts';
import { AirlockError } from '../errors.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import type { Metastore } from '../metastore/metastore.ts';
import { safeJsonParse } from '../util/json.ts';
import { loadPipelineSettings, type PipelineSettings } from './settings.ts';
import { PipelineStore } from './store.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** The store, the settings and the task environment of one process. */
export interface PipelineEnvironment {
  readonly store: PipelineStore;
  readonly settings: PipelineSettings;
  /** The task processes' environment, read fresh for each try. */
  taskEnv(): Promise<Env>;
}

/**
 * The task environment of a deployment: `baseEnv` overlaid with the server's deployment settings
 * (a setting wins over the process's variable of the same name); secret settings are registered
 * with `masker`.
 *
 * @example
 * ```ts
 * const env = deploymentEnvironment(metastore, process.env, masker);
 * await env(); // { ...process.env, AIRFLOW__SECRETS__BACKEND: … }
 * ```
 */
export function deploymentEnvironment(
  metastore: Metastore,
  baseEnv: Env,
  masker: SecretsMasker,
): () => Promise<Env> {
  let runtime: Promise<{ environment(): Promise<Env> }> | undefined;
  return async () => {
    runtime ??= Promise.all([import('../server/runtime.ts'), import('../server/store.ts')]).then(
      ([{ DeploymentRuntime }, { ServerStore }]) =>
        new DeploymentRuntime({
          metastore,
          store: new ServerStore(metastore),
          baseEnv,
          masker,
        }),
    );
    return (await runtime).environment();
  };
}

/** The pipeline environment over an open metastore. */
export function pipelineEnvironment(
  metastore: Metastore,
  config: Config,
  env: Env,
  masker: SecretsMasker,
): PipelineEnvironment {
  return {
    store: PipelineStore.from(metastore),
    settings: loadPipelineSettings(env, config.home),
    taskEnv: deploymentEnvironment(metastore, env, masker),
  };
}

/**
 * Parses a run's `conf` (a JSON object).
 *
 * @throws AirlockError `AIRLOCK_ERR_CLI_USAGE` when it is not JSON or not an object; the
 *   message gives the position, never the text.
 */
export function parseConf(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  const parsed = safeJsonParse(text);
  if (!parsed.ok) throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', `--conf ${parsed.message}`);
  const value = parsed.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', '--conf must be a JSON object');
  }
  return value as Record<string, unknown>;
}
