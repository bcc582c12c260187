/**
 * @module server/v1/operations
 * The declarations (`createRoute`) of the `/api/v1` operations that are not about DAGs: health,
 * version, config, Variables, Connections (Airflow 2's, under its paths and operation ids) and
 * airlock's own (provenance, backend health, deployment settings, users, API tokens). Each one
 * validates its request and is its entry in `/api/v1/openapi.json`; the route modules
 * (`routes/*.ts`) answer them.
 */
import { createRoute, z } from '@hono/zod-openapi';
import {
  ConfigSchema,
  ConnectionBodySchema,
  ConnectionCollectionSchema,
  ConnectionSchema,
  ConnectionTestSchema,
  HealthInfoSchema,
  VariableBodySchema,
  VariableCollectionSchema,
  VariableSchema,
  VersionInfoSchema,
} from './models.ts';
import {
  body,
  NO_CONTENT,
  ok,
  orderByQuery,
  pageQuery,
  pathParam,
  problems,
  totalEntries,
  updateMaskQuery,
} from './schemas.ts';

const PUBLIC: { [name: string]: string[] }[] = [];
const search = z
  .string()
  .optional()
  .openapi({ description: 'airlock: a case-insensitive substring of the key or id' });

const variableKey = z.object({ variable_key: pathParam('variable_key') });
const connectionId = z.object({ connection_id: pathParam('connection_id') });

/** Airflow 2's health, version, config, Variable and Connection operations. */
export const AIRFLOW_V1 = {
  health: createRoute({
    method: 'get',
    path: '/api/v1/health',
    operationId: 'get_health',
    tags: ['Monitoring'],
    summary: 'Get instance status',
    security: PUBLIC,
    responses: { 200: ok(HealthInfoSchema), 503: ok(HealthInfoSchema, 'Unhealthy.') },
  }),
  rootHealth: createRoute({
    method: 'get',
    path: '/health',
    operationId: 'airlock_get_health',
    tags: ['Monitoring'],
    summary: 'Get instance status (the same answer as `/api/v1/health`)',
    security: PUBLIC,
    responses: { 200: ok(HealthInfoSchema), 503: ok(HealthInfoSchema, 'Unhealthy.') },
  }),
  version: createRoute({
    method: 'get',
    path: '/api/v1/version',
    operationId: 'get_version',
    tags: ['Monitoring'],
    summary: 'Get version information',
    security: PUBLIC,
    responses: { 200: ok(VersionInfoSchema) },
  }),
  config: createRoute({
    method: 'get',
    path: '/api/v1/config',
    operationId: 'get_config',
    tags: ['Config'],
    summary: 'Get current configuration (admin; secret values hidden)',
    request: { query: z.object({ section: z.string().optional() }) },
    responses: {
      200: {
        description: 'Success.',
        content: {
          'application/json': { schema: ConfigSchema },
          'text/plain': { schema: z.string() },
        },
      },
      ...problems(401, 403, 404),
    },
  }),

  listVariables: createRoute({
    method: 'get',
    path: '/api/v1/variables',
    operationId: 'get_variables',
    tags: ['Variable'],
    summary: 'List variables',
    request: {
      query: z.object({ ...pageQuery, order_by: orderByQuery(['key', 'description']), search }),
    },
    responses: { 200: ok(VariableCollectionSchema), ...problems(400, 401, 403) },
  }),
  postVariable: createRoute({
    method: 'post',
    path: '/api/v1/variables',
    operationId: 'post_variables',
    tags: ['Variable'],
    summary: 'Create a variable',
    request: {
      body: body(VariableBodySchema.extend({ key: z.string(), value: z.string() })),
    },
    responses: { 200: ok(VariableSchema), ...problems(400, 401, 403, 409) },
  }),
  getVariable: createRoute({
    method: 'get',
    path: '/api/v1/variables/{variable_key}',
    operationId: 'get_variable',
    tags: ['Variable'],
    summary: 'Get a variable',
    request: { params: variableKey },
    responses: { 200: ok(VariableSchema), ...problems(401, 403, 404) },
  }),
  patchVariable: createRoute({
    method: 'patch',
    path: '/api/v1/variables/{variable_key}',
    operationId: 'patch_variable',
    tags: ['Variable'],
    summary: 'Update a variable',
    request: {
      params: variableKey,
      query: z.object({ update_mask: updateMaskQuery }),
      body: body(VariableBodySchema),
    },
    responses: { 200: ok(VariableSchema), ...problems(400, 401, 403, 404) },
  }),
  deleteVariable: createRoute({
    method: 'delete',
    path: '/api/v1/variables/{variable_key}',
    operationId: 'delete_variable',
    tags: ['Variable'],
    summary: 'Delete a variable',
    request: { params: variableKey },
    responses: { 204: NO_CONTENT, ...problems(400, 401, 403, 404) },
  }),

  listConnections: createRoute({
    method: 'get',
    path: '/api/v1/connections',
    operationId: 'get_connections',
    tags: ['Connection'],
    summary: 'List connections (never a password or extra)',
    request: {
      query: z.object({
        ...pageQuery,
        order_by: orderByQuery(['connection_id', 'conn_type', 'host', 'description']),
        search,
      }),
    },
    responses: { 200: ok(ConnectionCollectionSchema), ...problems(400, 401, 403) },
  }),
  postConnection: createRoute({
    method: 'post',
    path: '/api/v1/connections',
    operationId: 'post_connection',
    tags: ['Connection'],
    summary: 'Create a connection',
    request: {
      body: body(ConnectionBodySchema.extend({ connection_id: z.string(), conn_type: z.string() })),
    },
    responses: { 200: ok(ConnectionSchema), ...problems(400, 401, 403, 409) },
  }),
  testConnection: createRoute({
    method: 'post',
    path: '/api/v1/connections/test',
    operationId: 'test_connection',
    tags: ['Connection'],
    summary: 'Test a connection',
    request: { body: body(ConnectionBodySchema) },
    responses: { 200: ok(ConnectionTestSchema), ...problems(400, 401, 403, 404) },
  }),
  getConnection: createRoute({
    method: 'get',
    path: '/api/v1/connections/{connection_id}',
    operationId: 'get_connection',
    tags: ['Connection'],
    summary: 'Get a connection (the password is write-only: never returned)',
    request: { params: connectionId },
    responses: { 200: ok(ConnectionSchema), ...problems(401, 403, 404) },
  }),
  patchConnection: createRoute({
    method: 'patch',
    path: '/api/v1/connections/{connection_id}',
    operationId: 'patch_connection',
    tags: ['Connection'],
    summary: 'Update a connection',
    request: {
      params: connectionId,
      query: z.object({ update_mask: updateMaskQuery }),
      body: body(ConnectionBodySchema),
    },
    responses: { 200: ok(ConnectionSchema), ...problems(400, 401, 403, 404) },
  }),
  deleteConnection: createRoute({
    method: 'delete',
    path: '/api/v1/connections/{connection_id}',
    operationId: 'delete_connection',
    tags: ['Connection'],
    summary: 'Delete a connection',
    request: { params: connectionId },
    responses: { 204: NO_CONTENT, ...problems(400, 401, 403, 404) },
  }),
};

// --- airlock's own --------------------------------------------------------------------------

const LinkTraceSchema = z
  .object({
    backend: z.string(),
    outcome: z.string(),
    durationMs: z.number(),
    errorCode: z.string().optional(),
    reason: z.string().optional(),
  })
  .openapi('LinkTrace');
const WhichSchema = z
  .object({
    kind: z.enum(['variable', 'connection']),
    id: z.string(),
    source: z.string().nullable(),
    trace: z.array(LinkTraceSchema),
  })
  .openapi('Which');
const BackendsHealthSchema = z
  .object({
    status: z.enum(['healthy', 'unhealthy']),
    backends: z.array(
      z.object({
        backend: z.string(),
        status: z.enum(['healthy', 'unhealthy']),
        duration_ms: z.number().int(),
        error_code: z.string().optional(),
        detail: z.string().optional(),
      }),
    ),
  })
  .openapi('BackendsHealth');
const SettingSchema = z
  .object({
    name: z.string(),
    secret: z.boolean(),
    is_set: z.boolean(),
    value: z.string().nullable().openapi({ description: 'Always null for a secret setting.' }),
    updated_at: z.string(),
    updated_by: z.string().nullable(),
    restart_required: z.boolean().openapi({
      description:
        'True for a variable running processes read only at their start (NODE_*, TZ, proxies, …): new task processes get it at once, running servers and workers when restarted. NODE_EXTRA_CA_CERTS is applied at once.',
    }),
  })
  .openapi('Setting');
const Role = z.string().openapi({
  description:
    "airlock's `viewer`, `editor`, `admin`, or Airflow's `Viewer`, `User`, `Op`, `Admin`",
});
const UserSchema = z
  .object({ username: z.string(), role: z.string(), created_at: z.string().optional() })
  .openapi('User');
const TokenSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    username: z.string(),
    prefix: z.string(),
    created_at: z.string(),
    last_used_at: z.string().nullable(),
  })
  .openapi('Token');
const TokenCollectionSchema = z
  .object({ tokens: z.array(TokenSchema), ...totalEntries })
  .openapi('TokenCollection');
const username = z.object({ username: pathParam('username') });
const tokenId = pathParam('id');
const revoke = <P extends z.ZodObject>(path: string, summary: string, params: P) =>
  createRoute({
    method: 'delete',
    path,
    tags: ['airlock: tokens'],
    summary,
    request: { params },
    responses: { 204: NO_CONTENT, ...problems(401, 403, 404) },
  });

/** airlock's own operations beside Airflow's. */
export const AIRLOCK_V1 = {
  which: createRoute({
    method: 'get',
    path: '/api/v1/secrets/which',
    tags: ['airlock: secrets'],
    summary: 'Which link of the chain serves a key (provenance, never the value)',
    request: {
      query: z.object({
        kind: z.enum(['variable', 'connection']).default('variable'),
        id: z.string().min(1),
        all: z.enum(['true', 'false']).optional().openapi({ type: 'boolean', default: false }),
      }),
    },
    responses: { 200: ok(WhichSchema), ...problems(400, 401, 403) },
  }),
  backendsHealth: createRoute({
    method: 'get',
    path: '/api/v1/backends/health',
    tags: ['airlock: secrets'],
    summary: "Each chain link's health (a lookup of a key no one defines)",
    responses: {
      200: ok(BackendsHealthSchema),
      503: ok(BackendsHealthSchema, 'A link failed.'),
      ...problems(401, 403),
    },
  }),
  listSettings: createRoute({
    method: 'get',
    path: '/api/v1/settings',
    tags: ['airlock: settings'],
    summary: 'List deployment settings (admin; secret values never returned)',
    responses: {
      200: ok(z.object({ settings: z.array(SettingSchema), ...totalEntries })),
      ...problems(401, 403),
    },
  }),
  putSetting: createRoute({
    method: 'put',
    path: '/api/v1/settings/{name}',
    tags: ['airlock: settings'],
    summary: 'Create or replace a setting (admin); `secret: true` makes it write-only for good',
    request: {
      params: z.object({ name: pathParam('name') }),
      body: body(z.object({ value: z.string(), secret: z.boolean().default(false) })),
    },
    responses: {
      200: ok(SettingSchema, 'Updated.'),
      201: ok(SettingSchema, 'Created.'),
      ...problems(400, 401, 403),
    },
  }),
  deleteSetting: createRoute({
    method: 'delete',
    path: '/api/v1/settings/{name}',
    tags: ['airlock: settings'],
    summary: 'Delete a setting (admin)',
    request: { params: z.object({ name: pathParam('name') }) },
    responses: { 204: NO_CONTENT, ...problems(400, 401, 403, 404) },
  }),
  listUsers: createRoute({
    method: 'get',
    path: '/api/v1/users',
    tags: ['airlock: users'],
    summary: 'List users (admin)',
    responses: {
      200: ok(z.object({ users: z.array(UserSchema), ...totalEntries })),
      ...problems(401, 403),
    },
  }),
  postUser: createRoute({
    method: 'post',
    path: '/api/v1/users',
    tags: ['airlock: users'],
    summary: "Create a user (admin); roles are airlock's or Airflow's names",
    request: {
      body: body(z.object({ username: z.string(), password: z.string(), role: Role.optional() })),
    },
    responses: { 201: ok(UserSchema, 'Created.'), ...problems(400, 401, 403, 409) },
  }),
  patchUser: createRoute({
    method: 'patch',
    path: '/api/v1/users/{username}',
    tags: ['airlock: users'],
    summary:
      "Change a user's role or password (admin); a new password revokes the user's API tokens and ends their other sessions",
    request: {
      params: username,
      body: body(z.object({ password: z.string().optional(), role: Role.optional() })),
    },
    responses: { 200: ok(UserSchema), ...problems(400, 401, 403, 404, 409) },
  }),
  deleteUser: createRoute({
    method: 'delete',
    path: '/api/v1/users/{username}',
    tags: ['airlock: users'],
    summary: 'Delete a user (admin)',
    request: { params: username },
    responses: { 204: NO_CONTENT, ...problems(400, 401, 403, 404, 409) },
  }),
  userTokens: createRoute({
    method: 'get',
    path: '/api/v1/users/{username}/tokens',
    tags: ['airlock: tokens'],
    summary: "A user's API tokens (admin; metadata only)",
    request: { params: username },
    responses: { 200: ok(TokenCollectionSchema), ...problems(401, 403, 404) },
  }),
  revokeUserToken: revoke(
    '/api/v1/users/{username}/tokens/{id}',
    "Revoke a user's API token (admin)",
    z.object({ username: pathParam('username'), id: tokenId }),
  ),
  myPassword: createRoute({
    method: 'put',
    path: '/api/v1/me/password',
    tags: ['airlock: users'],
    summary:
      "Change the caller's password: revokes the caller's API tokens and ends their other sessions",
    request: {
      body: body(z.object({ current_password: z.string(), password: z.string() })),
    },
    responses: { 204: NO_CONTENT, ...problems(400, 401, 403) },
  }),
  listTokens: createRoute({
    method: 'get',
    path: '/api/v1/tokens',
    tags: ['airlock: tokens'],
    summary: "The caller's API tokens (metadata only)",
    responses: { 200: ok(TokenCollectionSchema), ...problems(401) },
  }),
  postToken: createRoute({
    method: 'post',
    path: '/api/v1/tokens',
    tags: ['airlock: tokens'],
    summary: 'Create an API token for the caller; the token is returned once',
    request: { body: body(z.object({ name: z.string().optional() }), false) },
    responses: {
      201: ok(
        z.object({ id: z.string(), name: z.string(), token: z.string() }).openapi('NewToken'),
        'Created: `token` holds the secret.',
      ),
      ...problems(400, 401),
    },
  }),
  revokeToken: revoke(
    '/api/v1/tokens/{id}',
    "Revoke one of the caller's tokens",
    z.object({ id: tokenId }),
  ),
};
