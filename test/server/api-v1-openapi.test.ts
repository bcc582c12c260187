// biome-ignore-all lint/suspicious/noExplicitAny: the document is checked field by field.
/**
 * `/api/v1/openapi.json` cannot drift from what the server does: it is generated from the route
 * declarations that validate the requests, and this test holds it to the app. Every `/api/v1`
 * (and `/health`) route Hono serves is in the document and every documented operation is served;
 * the document is valid OpenAPI 3.1; every operation that Airflow 2.10's published spec has is
 * under Airflow's path and operation id, and each response schema it documents is compatible with
 * Airflow's for that operation and status (every value ours allows, Airflow's allows too).
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipelineRoutes } from '../../src/pipelines/http.ts';
import {
  airflowDocument,
  airflowResponseSchema,
  incompatibilities,
} from '../helpers/airflow-spec.ts';
import { tempDir } from '../helpers/tmp.ts';
import { createTestApp, type TestApp } from './_app.ts';

let t: TestApp;
let doc: any;

beforeAll(async () => {
  t = await createTestApp({
    env: { AIRLOCK_HOME: tempDir('airlock-v1-openapi-') },
    extra: { extensions: [createPipelineRoutes()] },
  });
  const res = await t.app.request('/api/v1/openapi.json');
  expect(res.status).toBe(200);
  doc = await res.json();
}, 60_000);
afterAll(() => t?.close());

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** airlock's own operations: `/health` and those tagged `airlock: …`. */
function isOwn(op: string): boolean {
  const [method = '', path = ''] = op.split(' ');
  const tags: string[] = doc.paths[path][method.toLowerCase()].tags ?? [];
  return path === '/health' || tags.some((tag) => tag.startsWith('airlock:'));
}

function documented(): string[] {
  return Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(
    ([path, ops]) =>
      Object.keys(ops)
        .filter((m) => METHODS.includes(m))
        .map((m) => `${m.toUpperCase()} ${path}`),
  );
}

describe('/api/v1/openapi.json', () => {
  it('documents exactly the routes the app serves', () => {
    const served = t.app.routes
      .filter((r) => r.method !== 'ALL')
      .filter((r) => r.path.startsWith('/api/v1/') || r.path === '/health')
      .filter((r) => r.path !== '/api/v1/openapi.json')
      .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z_]+)/g, '{$1}')}`);
    // Hono lists a route once per handler (the validators, then the answer): one set each.
    expect(new Set(served).size).toBeGreaterThan(50);
    expect(new Set(documented())).toEqual(new Set(served));
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(structuredClone(doc));
    expect(result.errors ?? [], JSON.stringify(result.errors)).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("keeps Airflow's operation ids, and airlock's own operations apart", () => {
    const airflow = airflowDocument('v1');
    const airflowOps = new Map<string, string>();
    for (const [path, ops] of Object.entries(airflow.paths as Record<string, any>)) {
      for (const m of METHODS) {
        if (ops[m]) airflowOps.set(`${m.toUpperCase()} /api/v1${path}`, ops[m].operationId);
      }
    }
    const own = documented().filter((op) => isOwn(op));
    for (const op of documented().filter((o) => !isOwn(o))) {
      const [method = '', path = ''] = op.split(' ');
      expect(airflowOps.has(op), `${op} is in Airflow's API`).toBe(true);
      expect(doc.paths[path][method.toLowerCase()].operationId, op).toBe(airflowOps.get(op));
    }
    // airlock's user API lies under Airflow's (FAB's) `/users` paths with airlock's own fields
    // and roles: the one overlap, a deviation docs/api.md names.
    expect(own.filter((op) => airflowOps.has(op)).sort()).toEqual([
      'DELETE /api/v1/users/{username}',
      'GET /api/v1/users',
      'PATCH /api/v1/users/{username}',
      'POST /api/v1/users',
    ]);
    expect(documented().length - own.length).toBeGreaterThanOrEqual(35);
  });

  it("answers each Airflow operation with schemas compatible with Airflow's", () => {
    const airflow = airflowDocument('v1');
    const problems: string[] = [];
    let compared = 0;
    for (const op of documented()) {
      const [method = '', path = ''] = op.split(' ');
      if (isOwn(op)) continue;
      const airflowPath = path.slice('/api/v1'.length);
      const theirs = (airflow.paths as Record<string, any>)[airflowPath]?.[method.toLowerCase()];
      if (!theirs) continue;
      const responses = doc.paths[path][method.toLowerCase()].responses as Record<string, any>;
      for (const [status, response] of Object.entries(responses)) {
        if (status.startsWith('2') && !(status in theirs.responses)) {
          problems.push(`${op} ${status}: Airflow documents no such answer`);
        }
        const ours =
          response.content?.['application/json']?.schema ??
          response.content?.['application/problem+json']?.schema;
        const airflowSchema = airflowResponseSchema(
          'v1',
          method.toLowerCase(),
          airflowPath,
          status,
        );
        if (!ours || !airflowSchema) continue;
        compared++;
        for (const p of incompatibilities(ours, doc, airflowSchema, airflow)) {
          problems.push(`${op} ${status} ${p}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(compared).toBeGreaterThan(100);
  });

  it('finds an incompatible schema (the comparison is not vacuous)', () => {
    const airflow = airflowDocument('v1');
    const variable = airflowResponseSchema('v1', 'get', '/variables/{variable_key}', '200');
    const ours = (schema: Record<string, unknown>) =>
      incompatibilities(schema, {}, variable ?? {}, airflow);
    expect(ours({ type: 'object', properties: { key: { type: 'string' } } })).toEqual([]);
    expect(
      ours({ type: 'object', properties: { key: { type: ['string', 'null'] } } }),
    ).toHaveLength(1);
    expect(ours({ type: 'object', properties: { value: { type: 'integer' } } })).toHaveLength(1);
    const state = airflowResponseSchema('v1', 'get', '/dags/{dag_id}/dagRuns/{dag_run_id}', '200');
    expect(
      incompatibilities(
        { type: 'object', properties: { state: { type: 'string', enum: ['paused'] } } },
        {},
        state ?? {},
        airflow,
      ),
    ).toHaveLength(1);
  });
});
