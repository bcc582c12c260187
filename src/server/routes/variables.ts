/**
 * @module server/routes/variables
 * `/api/v1/variables`: Airflow's stable REST API for Variables, over the metastore.
 */
import { AirlockError } from '../../errors.ts';
import type { VariableOrder } from '../../metastore/metastore.ts';
import { requirePermission } from '../auth/roles.ts';
import type { RouteModule } from '../context.ts';
import { putVariable, variableOrThrow, variableView } from '../service.ts';
import { v1Route } from '../v1/app.ts';
import { AIRFLOW_V1 } from '../v1/operations.ts';
import { jsonBody, pageOf, stringField, updateMask } from './_api.ts';

/** Registers the Variable endpoints. */
export const variableRoutes: RouteModule = (_app, deps) => {
  const v1 = deps.apiV1;
  v1Route(v1, AIRFLOW_V1.listVariables, async (c) => {
    const user = c.get('user');
    const page = pageOf(c, ['key', 'description']);
    // Paged in SQL: the page alone is read and decrypted, the total counted by the database.
    const { records, total } = await deps.metastore.listVariables({
      limit: page.limit,
      offset: page.offset,
      orderBy: page.orderBy as VariableOrder,
      descending: page.descending,
      search: c.req.query('search'),
      onUnreadable: 'mark',
    });
    return c.json({
      variables: records.map((r) => variableView(deps, user, r, true)),
      total_entries: total,
    });
  });

  v1Route(v1, AIRFLOW_V1.getVariable, async (c) => {
    const record = await variableOrThrow(deps, c.req.valid('param').variable_key);
    return c.json(variableView(deps, c.get('user'), record, false));
  });

  v1Route(v1, AIRFLOW_V1.postVariable, async (c) => {
    const user = c.get('user');
    requirePermission(user.role, 'write');
    const body = await jsonBody(c);
    const key = stringField(body, 'key', { required: true }) as string;
    const value = stringField(body, 'value', { required: true }) as string;
    const description = stringField(body, 'description', { nullable: true });
    if (await deps.metastore.getVariableRecord(key)) {
      throw new AirlockError('AIRLOCK_ERR_HTTP_CONFLICT', `the variable \`${key}\` already exists`);
    }
    await deps.metastore.setVariable(key, value, { description: description ?? null });
    return c.json(variableView(deps, user, await variableOrThrow(deps, key), false), 200);
  });

  v1Route(v1, AIRFLOW_V1.patchVariable, async (c) => {
    const user = c.get('user');
    requirePermission(user.role, 'write');
    const key = c.req.valid('param').variable_key;
    const existing = await variableOrThrow(deps, key);
    const body = await jsonBody(c);
    const mask = updateMask(c, ['value', 'description']);
    const bodyKey = stringField(body, 'key');
    if (bodyKey !== undefined && bodyKey !== key) {
      throw new AirlockError(
        'AIRLOCK_ERR_HTTP_BAD_REQUEST',
        'the body `key` differs from the path',
      );
    }
    const value = stringField(body, 'value');
    const description = stringField(body, 'description', { nullable: true });
    const newValue = !mask || mask.has('value') ? value : undefined;
    const newDescription = !mask || mask.has('description') ? description : undefined;
    if (newValue === undefined && !mask) {
      throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', '`value` is required');
    }
    if (mask?.has('value') && (value === undefined || value === null)) {
      throw new AirlockError(
        'AIRLOCK_ERR_HTTP_BAD_REQUEST',
        '`value` is required by the update_mask',
      );
    }
    await putVariable(
      deps,
      key,
      newValue ?? existing.value ?? '',
      newDescription === undefined ? existing.description : newDescription,
      existing,
    );
    return c.json(variableView(deps, user, await variableOrThrow(deps, key), false));
  });

  v1Route(v1, AIRFLOW_V1.deleteVariable, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const key = c.req.valid('param').variable_key;
    if (!(await deps.metastore.deleteVariable(key))) await variableOrThrow(deps, key);
    return c.body(null, 204);
  });
};
