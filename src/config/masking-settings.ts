/**
 * @module config/masking-settings
 * The masker's two settings (`core.sensitive_var_conn_names`, `core.hide_sensitive_var_conn_fields`)
 * read on their own, and the small readers the configuration shares: what a task process needs,
 * without the configuration's backends, database URLs or schema checks.
 */
import { ENV } from './schema.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** The first of `names` set in `env`, with its name. */
export function pick(
  env: Env,
  names: readonly string[],
): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined) return { name, value };
  }
  return undefined;
}

/** Airflow's booleans (`t`/`true`/`1`, `f`/`false`/`0`); anything else is an issue. */
export function parseBoolean(name: string, value: string, issues: string[]): boolean | undefined {
  const v = value.trim().toLowerCase();
  if (['t', 'true', '1'].includes(v)) return true;
  if (['f', 'false', '0'].includes(v)) return false;
  issues.push(`${name}: must be true or false`);
  return undefined;
}

/** The masker's settings of a configuration (`core.sensitive_var_conn_names`, `core.hide_sensitive_var_conn_fields`). */
export interface MaskingSettings {
  readonly sensitiveVarConnNames: readonly string[];
  readonly hideSensitiveVarConnFields: boolean;
}

/**
 * Only the masker's settings of `env`, without the rest of the configuration (nor any backend
 * module): what a task process needs to mask its own output. An invalid value is reported in
 * `issues` (when given) and read as Airflow's default.
 *
 * @example
 * ```ts
 * const { sensitiveVarConnNames } = readMaskingSettings(process.env);
 * ```
 */
export function readMaskingSettings(env: Env, issues: string[] = []): MaskingSettings {
  const sensitive = pick(env, ENV.sensitiveVarConnNames);
  const sensitiveVarConnNames = (sensitive?.value ?? '')
    .split(',')
    .map((word) => word.trim())
    .filter((word) => word !== '');
  const hide = pick(env, ENV.hideSensitiveVarConnFields);
  const hideSensitiveVarConnFields =
    hide === undefined ? true : (parseBoolean(hide.name, hide.value, issues) ?? true);
  return { sensitiveVarConnNames, hideSensitiveVarConnFields };
}
