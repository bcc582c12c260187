/**
 * @module server/routes/connections
 * `/api/v1/connections`: Airflow's stable REST API for Connections, over the metastore, and
 * `POST /api/v1/connections/test`. As in Airflow 2, `password` is write-only: never returned.
 */
import { AirlockError } from '../../errors.ts';
import type { ConnectionOrder } from '../../metastore/metastore.ts';
import { requirePermission } from '../auth/roles.ts';
import type { RouteModule } from '../context.ts';
import {
  CONNECTION_FIELDS,
  type ConnectionInput,
  type ConnectionView,
  connectionForTest,
  connectionFromInput,
  connectionOrThrow,
  connectionView,
  inputOf,
  replaceConnection,
  testConnection,
} from '../service.ts';
import { v1Route } from '../v1/app.ts';
import { AIRFLOW_V1 } from '../v1/operations.ts';
import { jsonBody, pageOf, stringField, updateMask } from './_api.ts';

/**
 * A Connection as Airflow 2's API returns it: `password` is write-only there (never returned,
 * not even as `null`); roles that may read it get it from `/api/v2` or the pages.
 */
export function v1View(
  ...args: Parameters<typeof connectionView>
): Omit<ConnectionView, 'password'> {
  const { password: _password, ...view } = connectionView(...args);
  return view;
}

function inputFromBody(body: Record<string, unknown>): ConnectionInput {
  const input: ConnectionInput = {};
  for (const field of CONNECTION_FIELDS) {
    if (!(field in body)) continue;
    const value = body[field];
    if (field === 'port' && (typeof value === 'number' || value === null)) {
      input.port = value;
      continue;
    }
    const text = stringField(body, field, { nullable: true });
    if (text !== undefined) input[field] = text;
  }
  return input;
}

/** Registers the Connection endpoints. */
export const connectionRoutes: RouteModule = (_app, deps) => {
  const v1 = deps.apiV1;
  v1Route(v1, AIRFLOW_V1.listConnections, async (c) => {
    const user = c.get('user');
    const page = pageOf(c, ['connection_id', 'conn_type', 'host', 'description']);
    // Paged in SQL: the page alone is read and decrypted, the total counted by the database.
    const { records, total } = await deps.metastore.listConnections({
      limit: page.limit,
      offset: page.offset,
      orderBy: (page.orderBy === 'connection_id' ? 'conn_id' : page.orderBy) as ConnectionOrder,
      descending: page.descending,
      search: c.req.query('search'),
      onUnreadable: 'mark',
    });
    return c.json({
      connections: records.map((r) => v1View(user, r, true)),
      total_entries: total,
    });
  });

  v1Route(v1, AIRFLOW_V1.testConnection, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const connection = await connectionForTest(deps, await jsonBody(c));
    return c.json(await testConnection(connection));
  });

  v1Route(v1, AIRFLOW_V1.getConnection, async (c) => {
    const record = await connectionOrThrow(deps, c.req.valid('param').connection_id);
    return c.json(v1View(c.get('user'), record, false));
  });

  v1Route(v1, AIRFLOW_V1.postConnection, async (c) => {
    const user = c.get('user');
    requirePermission(user.role, 'write');
    const body = await jsonBody(c);
    const connId = stringField(body, 'connection_id', { required: true }) as string;
    const connection = connectionFromInput(connId, inputFromBody(body));
    if (await deps.metastore.getConnection(connId)) {
      throw new AirlockError(
        'AIRLOCK_ERR_HTTP_CONFLICT',
        `the connection \`${connId}\` already exists`,
      );
    }
    await deps.metastore.addConnection(connId, connection);
    return c.json(v1View(user, await connectionOrThrow(deps, connId), false));
  });

  v1Route(v1, AIRFLOW_V1.patchConnection, async (c) => {
    const user = c.get('user');
    requirePermission(user.role, 'write');
    const connId = c.req.valid('param').connection_id;
    const existing = await connectionOrThrow(deps, connId);
    const body = await jsonBody(c);
    const bodyId = stringField(body, 'connection_id');
    if (bodyId !== undefined && bodyId !== connId) {
      throw new AirlockError(
        'AIRLOCK_ERR_HTTP_BAD_REQUEST',
        'the body `connection_id` differs from the path',
      );
    }
    const mask = updateMask(c, CONNECTION_FIELDS);
    const given = inputFromBody(body);
    const merged: ConnectionInput = inputOf(existing);
    for (const field of CONNECTION_FIELDS) {
      if (mask && !mask.has(field)) continue;
      if (field in given) (merged as Record<string, unknown>)[field] = given[field];
      else if (mask?.has(field)) (merged as Record<string, unknown>)[field] = null;
    }
    await replaceConnection(deps, connId, connectionFromInput(connId, merged));
    return c.json(v1View(user, await connectionOrThrow(deps, connId), false));
  });

  v1Route(v1, AIRFLOW_V1.deleteConnection, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const connId = c.req.valid('param').connection_id;
    if (!(await deps.metastore.deleteConnection(connId))) await connectionOrThrow(deps, connId);
    return c.body(null, 204);
  });
};
