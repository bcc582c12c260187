/**
 * @module server/v2/variables
 * `/api/v2/variables`: list (`variable_key_pattern`, multi-field `order_by`), get, create, patch
 * (`update_mask`), delete, and the bulk `PATCH /variables` (create/update/delete actions with
 * `action_on_existence` / `action_on_non_existence`), as Airflow 3 serves them, over the metastore
 * and the same role rules as `/api/v1` (`service.ts`).
 */
import { createRoute, z } from '@hono/zod-openapi';
import { AirlockError } from '../../errors.ts';
import type { VariableRecord } from '../../metastore/metastore.ts';
import { requirePermission } from '../auth/roles.ts';
import type { AppDeps, AuthUser } from '../context.ts';
import { maskFields } from '../routes/_api.ts';
import { allVariables, putVariable, variableOrThrow, variableView } from '../service.ts';
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

/** `VariableResponse`. */
export const VariableResponseSchema = z
  .object({
    key: z.string(),
    value: z.string(),
    description: z.string().nullable().optional(),
    is_encrypted: z.boolean(),
    team_name: z.string().nullable().optional(),
  })
  .openapi('VariableResponse');

/** `VariableBody`: `value` is any JSON (kept as JSON text unless a string). */
export const VariableBodySchema = z
  .object({
    key: z.string().max(250),
    value: z.json().openapi('JsonValue'),
    description: z.string().nullable().optional(),
    team_name: z.string().max(50).nullable().optional(),
  })
  .strict()
  .openapi('VariableBody');

type VariableBody = z.infer<typeof VariableBodySchema>;

const VariableCollectionSchema = z
  .object({ variables: z.array(VariableResponseSchema), total_entries: z.number().int() })
  .openapi('VariableCollectionResponse');

const keyParam = z.object({
  variable_key: z.string().openapi({ param: { name: 'variable_key', in: 'path' } }),
});

/** The text Airflow stores for a body's `value`: a string as is, anything else as JSON. */
function valueText(value: VariableBody['value']): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function responseOf(deps: AppDeps, user: AuthUser, record: VariableRecord, inList: boolean) {
  return {
    ...variableView(deps, user, record, inList),
    is_encrypted: record.isEncrypted,
    team_name: null,
  };
}

const routes = {
  list: createRoute({
    method: 'get',
    path: '/api/v2/variables',
    tags: ['Variable'],
    summary: 'Get Variables',
    security: SECURED,
    request: {
      query: z.object({
        ...pageQuery,
        variable_key_pattern: z.string().nullable().optional(),
      }),
    },
    responses: {
      200: jsonResponse(VariableCollectionSchema),
      ...errorResponses(401, 403, 422),
    },
  }),
  get: createRoute({
    method: 'get',
    path: '/api/v2/variables/{variable_key}',
    tags: ['Variable'],
    summary: 'Get Variable',
    security: SECURED,
    request: { params: keyParam },
    responses: {
      200: jsonResponse(VariableResponseSchema),
      ...errorResponses(401, 403, 404, 422),
    },
  }),
  create: createRoute({
    method: 'post',
    path: '/api/v2/variables',
    tags: ['Variable'],
    summary: 'Post Variable',
    security: SECURED,
    request: {
      body: { content: { 'application/json': { schema: VariableBodySchema } }, required: true },
    },
    responses: {
      201: jsonResponse(VariableResponseSchema),
      ...errorResponses(401, 403, 409, 422),
    },
  }),
  patch: createRoute({
    method: 'patch',
    path: '/api/v2/variables/{variable_key}',
    tags: ['Variable'],
    summary: 'Patch Variable',
    security: SECURED,
    request: {
      params: keyParam,
      query: z.object({ update_mask: stringList }),
      body: { content: { 'application/json': { schema: VariableBodySchema } }, required: true },
    },
    responses: {
      200: jsonResponse(VariableResponseSchema),
      ...errorResponses(400, 401, 403, 404, 422),
    },
  }),
  remove: createRoute({
    method: 'delete',
    path: '/api/v2/variables/{variable_key}',
    tags: ['Variable'],
    summary: 'Delete Variable',
    security: SECURED,
    request: { params: keyParam },
    responses: {
      204: { description: 'Successful Response' },
      ...errorResponses(401, 403, 404, 422),
    },
  }),
  bulk: createRoute({
    method: 'patch',
    path: '/api/v2/variables',
    tags: ['Variable'],
    summary: 'Bulk Variables',
    security: SECURED,
    request: {
      body: {
        content: { 'application/json': { schema: bulkBody('VariableBody', VariableBodySchema) } },
        required: true,
      },
    },
    responses: { 200: jsonResponse(BulkResponseSchema), ...errorResponses(401, 403, 422) },
  }),
};

/** The fields a patch may change (`update_mask`). */
const MASKABLE = ['value', 'description'] as const;

function checkMask(mask: readonly string[] | undefined): Set<string> | undefined {
  // Airflow accepts `key` in the mask (it must equal the path's anyway).
  return maskFields(mask, [...MASKABLE, 'key']);
}

/** Applies a patch body under an optional mask; returns the record written. */
async function patchVariable(
  deps: AppDeps,
  key: string,
  body: VariableBody,
  mask: Set<string> | undefined,
): Promise<void> {
  const existing = await variableOrThrow(deps, key);
  if (body.key !== key) {
    throw new AirlockError(
      'AIRLOCK_ERR_HTTP_BAD_REQUEST',
      "Invalid body, key from request body doesn't match uri parameter",
    );
  }
  const value = !mask || mask.has('value') ? valueText(body.value) : (existing.value ?? '');
  const description =
    !mask || mask.has('description') ? (body.description ?? null) : existing.description;
  await putVariable(deps, key, value, description, existing);
}

async function createVariable(deps: AppDeps, body: VariableBody, overwrite: boolean) {
  const existing = await deps.metastore.getVariableRecord(body.key);
  if (existing && !overwrite) {
    throw new AirlockError(
      'AIRLOCK_ERR_HTTP_CONFLICT',
      `The Variable with key: \`${body.key}\` already exists`,
    );
  }
  await putVariable(deps, body.key, valueText(body.value), body.description ?? null, existing);
}

/**
 * Adds the Variable operations to `/api/v2`.
 *
 * @example
 * ```ts
 * registerVariablesV2(v2, deps);
 * ```
 */
export function registerVariablesV2(v2: ApiV2, deps: AppDeps): void {
  v2.openapi(routes.list, async (c) => {
    const query = c.req.valid('query');
    const matches = likeMatcher(query.variable_key_pattern);
    const records = (await allVariables(deps, { onUnreadable: 'mark' })).filter((r) =>
      matches(r.key),
    );
    const page = sortAndPage(
      records,
      query,
      {
        id: (r) => r.key,
        key: (r) => r.key,
        description: (r) => r.description,
        is_encrypted: (r) => (r.isEncrypted ? 1 : 0),
        _val: (r) => r.value,
        team_name: () => null,
      },
      'id',
    );
    const user = c.get('user');
    return c.json(
      {
        variables: page.map((r) => responseOf(deps, user, r, true)),
        total_entries: records.length,
      },
      200,
    );
  });

  v2.openapi(routes.get, async (c) => {
    const record = await variableOrThrow(deps, c.req.valid('param').variable_key);
    return c.json(responseOf(deps, c.get('user'), record, false), 200);
  });

  v2.openapi(routes.create, async (c) => {
    const user = c.get('user');
    requirePermission(user.role, 'write');
    const body = c.req.valid('json');
    await createVariable(deps, body, false);
    return c.json(responseOf(deps, user, await variableOrThrow(deps, body.key), false), 201);
  });

  v2.openapi(routes.patch, async (c) => {
    const user = c.get('user');
    requirePermission(user.role, 'write');
    const key = c.req.valid('param').variable_key;
    await patchVariable(
      deps,
      key,
      c.req.valid('json'),
      checkMask(c.req.valid('query').update_mask),
    );
    return c.json(responseOf(deps, user, await variableOrThrow(deps, key), false), 200);
  });

  v2.openapi(routes.remove, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const key = c.req.valid('param').variable_key;
    if (!(await deps.metastore.deleteVariable(key))) await variableOrThrow(deps, key);
    return c.body(null, 204);
  });

  v2.openapi(routes.bulk, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const result = await runBulk<VariableBody>(
      c.req.valid('json').actions,
      {
        idOf: (e) => e.key,
        exists: async (key) => (await deps.metastore.getVariableRecord(key)) !== undefined,
        create: (e, overwrite) => createVariable(deps, e, overwrite),
        update: (e, mask) => patchVariable(deps, e.key, e, checkMask(mask)),
        remove: (key) => deps.metastore.deleteVariable(key),
        requireExisting: (key) => variableOrThrow(deps, key),
      },
      (text) => deps.masker.redact(text),
    );
    return c.json(result, 200);
  });
}
