/**
 * @module server/airflow-info
 * What Airflow's `health`, `version` and `config` endpoints report, computed once for both API
 * versions:
 *
 * - health: Airflow's component keys; `metadatabase` is the metastore, and the components airlock
 *   does not have (scheduler, triggerer, DAG processor) report Airflow's neutral `null` status
 *   and heartbeat;
 * - version: airlock's version, `git_version` `null`;
 * - config: the deployment's `AIRLOCK__SECTION__KEY` settings (process environment and
 *   deployment settings) as Airflow's sections and options, each secret value shown as Airflow
 *   shows a sensitive option, `< hidden >`: the Fernet key, the database URL, backend kwargs, any
 *   name the masker counts as sensitive, and every deployment setting marked secret.
 */
import { VERSION } from '../cli/version.ts';
import { AirlockError } from '../errors.ts';
import type { AppDeps } from './context.ts';

/** Airflow's stand-in for a sensitive configuration value. */
export const HIDDEN = '< hidden >';

/** Options whose values are always hidden, as Airflow's `sensitive_config_values`. */
const SENSITIVE_OPTIONS = new Set([
  'core.fernet_key',
  'database.url',
  'database.sql_alchemy_conn',
  'secrets.backends',
  'secrets.backend_kwargs',
  'webserver.secret_key',
  'api.secret_key',
]);

/** Airflow's `HealthInfo`. */
export interface HealthInfo {
  metadatabase: { status: 'healthy' | 'unhealthy' };
  scheduler: { status: null; latest_scheduler_heartbeat: null };
  triggerer: { status: null; latest_triggerer_heartbeat: null };
  dag_processor: { status: null; latest_dag_processor_heartbeat: null };
}

/** The health of the deployment, in Airflow's shape. */
export async function healthInfo(deps: AppDeps): Promise<HealthInfo> {
  let status: 'healthy' | 'unhealthy' = 'healthy';
  try {
    await deps.store.settingsVersion();
  } catch {
    status = 'unhealthy';
  }
  return {
    metadatabase: { status },
    scheduler: { status: null, latest_scheduler_heartbeat: null },
    triggerer: { status: null, latest_triggerer_heartbeat: null },
    dag_processor: { status: null, latest_dag_processor_heartbeat: null },
  };
}

/** Airflow's `VersionInfo`. */
export function versionInfo(): { version: string; git_version: string | null } {
  return { version: VERSION, git_version: null };
}

/** One configuration section. */
export interface ConfigSection {
  name: string;
  options: { key: string; value: string }[];
}

/**
 * The configuration as Airflow's sections, secret values hidden; only `section` when given.
 *
 * @throws AirlockError `AIRLOCK_ERR_HTTP_NOT_FOUND` for a section that has no option.
 */
export async function configSections(deps: AppDeps, section?: string): Promise<ConfigSection[]> {
  const env = await deps.runtime.environment();
  const secretSettings = new Set(
    (await deps.store.listSettings()).filter((s) => s.secret).map((s) => s.name),
  );
  const sections = new Map<string, ConfigSection>();
  for (const [name, value] of Object.entries(env).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const match = /^AIRLOCK__([A-Z0-9_]+?)__([A-Z0-9_]+)$/.exec(name);
    if (!match || value === undefined) continue;
    const sectionName = (match[1] as string).toLowerCase();
    const key = (match[2] as string).toLowerCase();
    if (section !== undefined && sectionName !== section) continue;
    const hidden =
      secretSettings.has(name) ||
      SENSITIVE_OPTIONS.has(`${sectionName}.${key}`) ||
      deps.masker.isSensitive(key);
    const entry = sections.get(sectionName) ?? { name: sectionName, options: [] };
    entry.options.push({ key, value: hidden ? HIDDEN : value });
    sections.set(sectionName, entry);
  }
  if (section !== undefined && sections.size === 0) {
    throw new AirlockError('AIRLOCK_ERR_HTTP_NOT_FOUND', `Section ${section} not found.`);
  }
  return [...sections.values()];
}

/** The sections as Airflow's `text/plain` answer (an ini file). */
export function configText(sections: readonly ConfigSection[]): string {
  return sections
    .map((s) => `[${s.name}]\n${s.options.map((o) => `${o.key} = ${o.value}`).join('\n')}\n`)
    .join('\n');
}
