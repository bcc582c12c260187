/**
 * @module model/connection-lookup
 * Airflow's `Connection.get_connection_from_secrets(conn_id)` over a resolver.
 */
import { NotFoundError } from '../errors.ts';
import { missHint } from '../resolver/hint.ts';
import type { LookupOptions, Resolution, Resolver } from '../resolver/types.ts';
import type { Connection } from './connection.ts';

/**
 * The Connection and where it came from; {@link NotFoundError} (`AIRLOCK_ERR_CONN_NOT_FOUND`)
 * when no source defines it.
 *
 * @example
 * ```ts
 * const { value: conn, source } = await getConnection(resolver, 'warehouse');
 * ```
 */
export async function getConnection(
  resolver: Pick<Resolver, 'getConnection'> & Partial<Pick<Resolver, 'which'>>,
  connId: string,
  options: LookupOptions = {},
): Promise<Resolution<Connection>> {
  const found = await resolver.getConnection(connId, options);
  if (found === undefined) {
    throw new NotFoundError(
      'AIRLOCK_ERR_CONN_NOT_FOUND',
      `The conn_id \`${connId}\` isn't defined${await missHint(resolver, 'connection', connId)}`,
      {
        details: { conn_id: connId },
      },
    );
  }
  return found;
}
