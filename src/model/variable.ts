/**
 * @module model/variable
 * Airflow's `Variable.get(key, default_var, deserialize_json)` over a resolver.
 */
import { AirlockError, NotFoundError } from '../errors.ts';
import type { LookupOptions, Resolver } from '../resolver/resolver.ts';
import { safeJsonParse } from '../util/json.ts';

/** Options of {@link getVariable}. */
export interface VariableGetOptions<D = never> extends LookupOptions {
  /** Returned (as given, never deserialised) when no source defines the key. */
  default?: D;
  /**
   * Parse the value as JSON (Airflow's `deserialize_json`).
   * @default false
   */
  json?: boolean;
}

/**
 * A Variable's value, with Airflow's semantics: missing and no default → {@link NotFoundError}
 * (`AIRLOCK_ERR_VAR_NOT_FOUND`); `json: true` parses the value (`AIRLOCK_ERR_VAR_JSON_INVALID`
 * when it is not JSON); the default is returned as given, never parsed.
 *
 * @example
 * ```ts
 * const retries = await getVariable(resolver, 'retries', { default: '3' });
 * const settings = await getVariable(resolver, 'settings', { json: true });
 * ```
 */
export async function getVariable<D = never>(
  resolver: Pick<Resolver, 'getVariable'>,
  key: string,
  options: VariableGetOptions<D> = {},
): Promise<unknown> {
  const found = await resolver.getVariable(key, options.signal ? { signal: options.signal } : {});
  if (found === undefined) {
    if ('default' in options) return options.default;
    throw new NotFoundError('AIRLOCK_ERR_VAR_NOT_FOUND', `Variable \`${key}\` does not exist`, {
      details: { key },
    });
  }
  if (!options.json) return found.value;
  return parseVariableJson(key, found.value);
}

/** Parses a Variable's value as JSON; the error names the key and the position, never the value. */
export function parseVariableJson(key: string, value: string): unknown {
  const parsed = safeJsonParse(value);
  if (parsed.ok) return parsed.value;
  throw new AirlockError('AIRLOCK_ERR_VAR_JSON_INVALID', `Variable \`${key}\` ${parsed.message}`, {
    details: { key },
  });
}
