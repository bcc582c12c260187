/**
 * @module server/v2/connections
 * `/api/v2/connections`: list (`connection_id_pattern`, multi-field `order_by`), get, create,
 * patch (`update_mask`), delete, bulk `PATCH /connections`, `POST /connections/test` and
 * `POST /connections/defaults`, as Airflow 3 serves them, over the metastore and the role rules of
 * `service.ts` (a list carries no password or extra; a get shows them to roles that read secrets).
 */
import { createRoute, z } from '@hono/zod-openapi';
import { AirlockError } from '../../errors.ts';
import type { ConnectionRecord } from '../../metastore/metastore.ts';
import { requirePermission } from '../auth/roles.ts';
import type { AppDeps, AuthUser } from '../context.ts';
import { DEFAULT_CONNECTIONS } from '../default-connections.ts';
import { maskFields } from '../routes/_api.ts';
import {
  allConnections,
  CONNECTION_FIELDS,
  type ConnectionInput,
  connectionForTest,
  connectionFromInput,
  connectionOrThrow,
  connectionView,
  inputOf,
  replaceConnection,
  testConnection,
} from '../service.ts';
import type { ApiV2 } from './app.ts';
import {
  BulkResponseSchema,
  bulkBody,
  errorResponses,
  jsonResponse,
  likeMatcher,
  pageQuery,
  runBulk,
  SECURED,
  sortAndPage,
  stringList,
} from './schemas.ts';

const nullableText = z.string().nullable().optional();

/** The fields a Connection's response and body share. */
const connectionFields = {
  conn_type: z.string(),
  description: nullableText,
  host: nullableText,
  login: nullableText,
  schema: nullableText,
  port: z.number().int().nullable().optional(),
  password: nullableText,
  extra: nullableText,
};

/** `ConnectionResponse`. */
export const ConnectionResponseSchema = z
  .object({ connection_id: z.string(), ...connectionFields, team_name: nullableText })
  .openapi('ConnectionResponse');

/** `ConnectionBody`. */
export const ConnectionBodySchema = z
  .object({
    connection_id: z
      .string()
      .max(200)
      .regex(/^[\w.-]+$/),
    ...connectionFields,
    team_name: z.string().max(50).nullable().optional(),
  })
  .strict()
  .openapi('ConnectionBody');

type ConnectionBody = z.infer<typeof ConnectionBodySchema>;

const ConnectionCollectionSchema = z
  .object({ connections: z.array(ConnectionResponseSchema), total_entries: z.number().int() })
  .openapi('ConnectionCollectionResponse');

const ConnectionTestSchema = z
  .object({ status: z.boolean(), message: z.string() })
  .openapi('ConnectionTestResponse');

const idParam = z.object({
  connection_id: z.string().openapi({ param: { name: 'connection_id', in: 'path' } }),
});

const jsonBodyOf = <T extends z.ZodType>(schema: T) => ({
  content: { 'application/json': { schema } },
  required: true,
});

function responseOf(user: AuthUser, record: ConnectionRecord, inList: boolean) {
  return { ...connectionView(user, record, inList), team_name: null };
}

function inputOfBody(body: ConnectionBody): ConnectionInput {
  const input: ConnectionInput = {};
  for (const field of CONNECTION_FIELDS) {
    const value = body[field];
    if (value !== undefined) (input as Record<string, unknown>)[field] = value;
  }
  return input;
}

const routes = {
  list: createRoute({
    method: 'get',
    path: '/api/v2/connections',
    tags: ['Connection'],
    summary: 'Get Connections',
    security: SECURED,
    request: {
      query: z.object({ ...pageQuery, connection_id_pattern: z.string().nullable().optional() }),
    },
    responses: {
      200: jsonResponse(ConnectionCollectionSchema),
      ...errorResponses(401, 403, 404, 422),
    },
  }),
  get: createRoute({
    method: 'get',
    path: '/api/v2/connections/{connection_id}',
    tags: ['Connection'],
    summary: 'Get Connection',
    security: SECURED,
    request: { params: idParam },
    responses: {
      200: jsonResponse(ConnectionResponseSchema),
      ...errorResponses(401, 403, 404, 422),
    },
  }),
  create: createRoute({
    method: 'post',
    path: '/api/v2/connections',
    tags: ['Connection'],
    summary: 'Post Connection',
    security: SECURED,
    request: { body: jsonBodyOf(ConnectionBodySchema) },
    responses: {
      201: jsonResponse(ConnectionResponseSchema),
      ...errorResponses(401, 403, 409, 422),
    },
  }),
  patch: createRoute({
    method: 'patch',
    path: '/api/v2/connections/{connection_id}',
    tags: ['Connection'],
    summary: 'Patch Connection',
    security: SECURED,
    request: {
      params: idParam,
      query: z.object({ update_mask: stringList }),
      body: jsonBodyOf(ConnectionBodySchema),
    },
    responses: {
      200: jsonResponse(ConnectionResponseSchema),
      ...errorResponses(400, 401, 403, 404, 422),
    },
  }),
  remove: createRoute({
    method: 'delete',
    path: '/api/v2/connections/{connection_id}',
    tags: ['Connection'],
    summary: 'Delete Connection',
    security: SECURED,
    request: { params: idParam },
    responses: {
      204: { description: 'Successful Response' },
      ...errorResponses(401, 403, 404, 422),
    },
  }),
  bulk: createRoute({
    method: 'patch',
    path: '/api/v2/connections',
    tags: ['Connection'],
    summary: 'Bulk Connections',
    security: SECURED,
    request: { body: jsonBodyOf(bulkBody('ConnectionBody', ConnectionBodySchema)) },
    responses: { 200: jsonResponse(BulkResponseSchema), ...errorResponses(401, 403, 422) },
  }),
  test: createRoute({
    method: 'post',
    path: '/api/v2/connections/test',
    tags: ['Connection'],
    summary: 'Test Connection',
    description:
      "Whether the connection parses under Airflow's rules and, when it names a host, that the host accepts a TCP connection (airlock has no provider hooks, so this is a reachability check).",
    security: SECURED,
    request: { body: jsonBodyOf(ConnectionBodySchema) },
    responses: { 200: jsonResponse(ConnectionTestSchema), ...errorResponses(401, 403, 422) },
  }),
  defaults: createRoute({
    method: 'post',
    path: '/api/v2/connections/defaults',
    tags: ['Connection'],
    summary: 'Create Default Connections',
    description:
      "Adds Airflow's default connections (`airflow db create-default-connections`) that do not exist yet.",
    security: SECURED,
    responses: { 204: { description: 'Successful Response' }, ...errorResponses(401, 403) },
  }),
};

/** Applies a body to a stored connection under an optional `update_mask`. */
async function patchConnection(
  deps: AppDeps,
  connId: string,
  body: ConnectionBody,
  mask: readonly string[] | undefined,
): Promise<void> {
  const existing = await connectionOrThrow(deps, connId);
  if (body.connection_id !== connId) {
    throw new AirlockError(
      'AIRLOCK_ERR_HTTP_BAD_REQUEST',
      'The connection_id in the request body does not match the URL parameter',
    );
  }
  const fields = maskFields(mask, [...CONNECTION_FIELDS, 'connection_id']);
  const given = inputOfBody(body);
  const merged = inputOf(existing) as Record<string, unknown>;
  // As Airflow: without a mask, the fields the body sets; with one, the masked fields (a masked
  // field the body leaves out becomes null).
  for (const field of CONNECTION_FIELDS) {
    if (fields) {
      if (fields.has(field)) merged[field] = given[field] ?? null;
    } else if (field in given) merged[field] = given[field];
  }
  await replaceConnection(deps, connId, connectionFromInput(connId, merged as ConnectionInput));
}

async function createConnection(deps: AppDeps, body: ConnectionBody, overwrite: boolean) {
  const connection = connectionFromInput(body.connection_id, inputOfBody(body));
  if (overwrite) return replaceConnection(deps, body.connection_id, connection);
  if (await deps.metastore.getConnection(body.connection_id)) {
    throw new AirlockError(
      'AIRLOCK_ERR_HTTP_CONFLICT',
      `The connection with connection_id: \`${body.connection_id}\` already exists.`,
    );
  }
  await deps.metastore.addConnection(body.connection_id, connection);
}

/**
 * Adds the Connection operations to `/api/v2`.
 *
 * @example
 * ```ts
 * registerConnectionsV2(v2, deps);
 * ```
 */
export function registerConnectionsV2(v2: ApiV2, deps: AppDeps): void {
  v2.openapi(routes.test, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const connection = await connectionForTest(deps, c.req.valid('json'));
    return c.json(await testConnection(connection), 200);
  });

  v2.openapi(routes.defaults, async (c) => {
    requirePermission(c.get('user').role, 'write');
    await deps.metastore.importConnections(
      DEFAULT_CONNECTIONS.map(({ connId, connection }) => ({
        connId,
        connection,
        where: `default connection \`${connId}\``,
      })),
      { onExisting: 'skip' },
    );
    return c.body(null, 204);
  });

  v2.openapi(routes.list, async (c) => {
    const query = c.req.valid('query');
    const matches = likeMatcher(query.connection_id_pattern);
    const records = (await allConnections(deps, { onUnreadable: 'mark' })).filter((r) =>
      matches(r.connId),
    );
    const page = sortAndPage(
      records,
      query,
      {
        id: (r) => r.connId,
        conn_id: (r) => r.connId,
        connection_id: (r) => r.connId,
        conn_type: (r) => r.connType,
        description: (r) => r.description,
        host: (r) => r.host,
        port: (r) => r.port,
        team_name: () => null,
      },
      'id',
    );
    const user = c.get('user');
    return c.json(
      {
        connections: page.map((r) => responseOf(user, r, true)),
        total_entries: records.length,
      },
      200,
    );
  });

  v2.openapi(routes.get, async (c) => {
    const record = await connectionOrThrow(deps, c.req.valid('param').connection_id);
    return c.json(responseOf(c.get('user'), record, false), 200);
  });

  v2.openapi(routes.create, async (c) => {
    const user = c.get('user');
    requirePermission(user.role, 'write');
    const body = c.req.valid('json');
    await createConnection(deps, body, false);
    return c.json(responseOf(user, await connectionOrThrow(deps, body.connection_id), false), 201);
  });

  v2.openapi(routes.patch, async (c) => {
    const user = c.get('user');
    requirePermission(user.role, 'write');
    const connId = c.req.valid('param').connection_id;
    await patchConnection(deps, connId, c.req.valid('json'), c.req.valid('query').update_mask);
    return c.json(responseOf(user, await connectionOrThrow(deps, connId), false), 200);
  });

  v2.openapi(routes.remove, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const connId = c.req.valid('param').connection_id;
    if (!(await deps.metastore.deleteConnection(connId))) await connectionOrThrow(deps, connId);
    return c.body(null, 204);
  });

  v2.openapi(routes.bulk, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const result = await runBulk<ConnectionBody>(
      c.req.valid('json').actions,
      {
        idOf: (e) => e.connection_id,
        exists: async (id) => (await deps.metastore.getConnection(id)) !== undefined,
        create: (e, overwrite) => createConnection(deps, e, overwrite),
        update: (e, mask) => patchConnection(deps, e.connection_id, e, mask),
        remove: (id) => deps.metastore.deleteConnection(id),
        requireExisting: (id) => connectionOrThrow(deps, id),
      },
      (text) => deps.masker.redact(text),
    );
    return c.json(result, 200);
  });
}
