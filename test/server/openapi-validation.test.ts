/**
 * Path and query validation of `/api/v1` and `/api/v2` (`server/openapi-validation.ts`): the same
 * answers as the library's validators gave (Airflow 2's 400 problem, FastAPI's 422 details), the
 * validated values reaching the handlers, never the input echoed; and the helper itself on an
 * app of its own (an asynchronous schema, a hook that answers, a body still validated).
 */
import { createRoute, OpenAPIHono, type RouteConfig, z } from '@hono/zod-openapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppEnv } from '../../src/server/context.ts';
import { validateSynchronously } from '../../src/server/openapi-validation.ts';
import { createTestApp, PASSWORD, type TestApp } from './_app.ts';

const CANARY = 'cnry-query-4d1f0a';
let t: TestApp;
const basic = { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` };

beforeAll(async () => {
  t = await createTestApp({});
  for (const key of ['a', 'b', 'c', 'with space']) await t.metastore.setVariable(key, `v-${key}`);
});
afterAll(async () => {
  await t.close();
});

const get = async (path: string) => {
  const res = await t.app.request(path, { headers: basic });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
};

describe('the API routes', () => {
  it('answers a bad v1 query with Airflow 2’s 400 problem naming the parameter, not its value', async () => {
    const res = await get(`/api/v1/variables?limit=${CANARY}`);
    expect(res.status).toBe(400);
    expect(res.type).toBe('application/problem+json');
    const body = JSON.parse(res.text);
    expect(body.code).toBe('AIRLOCK_ERR_HTTP_BAD_REQUEST');
    expect(body.detail).toMatch(/^invalid request: query\.limit: /);
    expect(res.text).not.toContain(CANARY);
  });

  it('answers a bad v2 query with FastAPI’s 422 details, not its value', async () => {
    const res = await get(`/api/v2/variables?limit=${CANARY}`);
    expect(res.status).toBe(422);
    const body = JSON.parse(res.text);
    expect(body.detail[0].loc).toEqual(['query', 'limit']);
    expect(body.detail[0].type).toBe('invalid_type');
    expect(res.text).not.toContain(CANARY);
  });

  it('hands the validated query and the decoded path parameter to the handlers', async () => {
    const v1 = JSON.parse((await get('/api/v1/variables?limit=2&offset=1')).text);
    expect(v1.variables.map((v: { key: string }) => v.key)).toEqual(['b', 'c']);
    expect(v1.total_entries).toBe(4);
    const v2 = JSON.parse((await get('/api/v2/variables?limit=1&offset=3')).text);
    expect(v2.variables.map((v: { key: string }) => v.key)).toEqual(['with space']);
    const one = JSON.parse((await get('/api/v1/variables/with%20space')).text);
    expect(one).toEqual({ key: 'with space', value: 'v-with space', description: null });
  });
});

describe('validateSynchronously', () => {
  const route = (request: NonNullable<RouteConfig['request']>) =>
    createRoute({
      method: 'post',
      path: '/items/{id}',
      request,
      responses: { 200: { description: 'ok' } },
    });
  /** What the validation gave the handler for `target` (the routes here are not typed). */
  const valid = (c: { req: { valid: unknown } }, target: string) =>
    (c.req.valid as (t: string) => Record<string, unknown>)(target);
  const make = (hook: Parameters<typeof validateSynchronously>[1]) => {
    const app = new OpenAPIHono<AppEnv>({ defaultHook: hook as never });
    validateSynchronously(app, hook);
    return app;
  };
  const answering = (result: { success: boolean; target: string }, c: { json: never }) =>
    result.success
      ? undefined
      : (c.json as unknown as (b: unknown, s: number) => Response)({ bad: result.target }, 422);

  it('validates the path, the query and (through the library) the body, in that order', async () => {
    const app = make(answering as never);
    app.openapi(
      route({
        params: z.object({ id: z.string().regex(/^\d+$/) }),
        query: z.object({ n: z.coerce.number().int() }),
        body: { content: { 'application/json': { schema: z.object({ name: z.string() }) } } },
      }),
      (c) => c.json({ ...valid(c, 'param'), ...valid(c, 'query'), ...valid(c, 'json') }),
    );
    const post = (path: string, body: unknown) =>
      app.request(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const ok = await post('/items/7?n=3', { name: 'x' });
    expect(await ok.json()).toEqual({ id: '7', n: 3, name: 'x' });
    expect(await (await post('/items/x?n=y', { name: 'x' })).json()).toEqual({ bad: 'query' });
    expect(await (await post('/items/x?n=1', { name: 'x' })).json()).toEqual({ bad: 'param' });
    expect(await (await post('/items/1?n=1', { name: 1 })).json()).toEqual({ bad: 'json' });
    // The served document still has the whole route.
    const doc = app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 't', version: '1' } });
    const op = doc.paths?.['/items/{id}']?.post;
    expect(op?.parameters?.map((p) => ('name' in p ? p.name : '')).sort()).toEqual(['id', 'n']);
    expect(op?.requestBody).toBeDefined();
  });

  it('parses a schema with an asynchronous refinement asynchronously', async () => {
    const app = make(answering as never);
    app.openapi(
      route({
        params: z.object({
          id: z.string().refine(async (id) => id === 'ok', { message: 'not ok' }),
        }),
      }),
      (c) => c.json(valid(c, 'param')),
    );
    expect(await (await app.request('/items/ok', { method: 'POST' })).json()).toEqual({ id: 'ok' });
    expect((await app.request('/items/no', { method: 'POST' })).status).toBe(422);
  });

  it('answers 400 with the result when the hook lets a failure through, and honours a thrown hook', async () => {
    const quiet = make(() => undefined);
    quiet.openapi(route({ params: z.object({ id: z.string().min(3) }) }), (c) => c.text('ran'));
    const res = await quiet.request('/items/ab', { method: 'POST' });
    expect(res.status).toBe(400);
    expect((await res.json()).success).toBe(false);

    const throwing = make((result) => {
      if (!result.success) throw new Error('refused');
    });
    throwing.onError((err, c) => c.text(err.message, 418));
    throwing.openapi(route({ params: z.object({ id: z.string().min(3) }) }), (c) => c.text('ran'));
    const refused = await throwing.request('/items/ab', { method: 'POST' });
    expect(refused.status).toBe(418);
    expect(await refused.text()).toBe('refused');
    expect(await (await throwing.request('/items/abc', { method: 'POST' })).text()).toBe('ran');
  });
});
