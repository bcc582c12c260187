/**
 * @module model/connection-file-entry
 * Airflow's rules for a Connection written as an object in a secrets or import file
 * (`local_filesystem._create_connection`): the keys of `Connection.__init__` plus
 * `extra_dejson`, `extra` and `extra_dejson` exclusive, a `conn_id` equal to the map key.
 */
import { CONNECTION_FIELD_NAMES } from './connection.ts';

/** The keys a Connection object in a file may have. */
export const CONNECTION_FILE_KEYS: ReadonlySet<string> = new Set([
  'conn_id',
  ...CONNECTION_FIELD_NAMES,
  'uri',
  'extra_dejson',
]);

/**
 * Checks a Connection object from a file and returns its fields (`extra_dejson` moved to
 * `extra`, `conn_id` dropped). `fail(problem)` builds the caller's coded error; problems name
 * keys, never values.
 *
 * @example
 * ```ts
 * const fields = connectionFileFields('db', { conn_type: 'postgres', extra_dejson: {} }, fail);
 * ```
 */
export function connectionFileFields(
  connId: string,
  value: unknown,
  fail: (problem: string) => Error,
): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw fail('must be a URI string or an object of connection fields');
  }
  const record = { ...(value as Record<string, unknown>) };
  const illegal = Object.keys(record).filter((k) => !CONNECTION_FILE_KEYS.has(k));
  if (illegal.length > 0) {
    throw fail(
      `has illegal keys: ${illegal.join(', ')} (allowed: ${[...CONNECTION_FILE_KEYS].join(', ')})`,
    );
  }
  if ('extra' in record && 'extra_dejson' in record) {
    throw fail('has both `extra` and `extra_dejson`; they are mutually exclusive');
  }
  if ('extra_dejson' in record) {
    record.extra = record.extra_dejson;
    delete record.extra_dejson;
  }
  if ('conn_id' in record && record.conn_id !== connId) {
    throw fail('has a `conn_id` that differs from its key');
  }
  delete record.conn_id;
  return record;
}
