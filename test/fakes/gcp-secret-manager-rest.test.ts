/**
 * The Secret Manager double's REST API (what gcloud and curl use), called with plain `fetch` as
 * Google's REST reference documents it, and checked against the gRPC side on the same port.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { crc32c } from '../../src/backends/_crc32c.ts';
import { createGcpSecretManagerBackend } from '../../src/backends/gcp-secret-manager.ts';
import {
  type GcpSecretManagerFake,
  startGcpSecretManagerFake,
} from '../../src/testing/fakes/gcp-secret-manager-fake.ts';

const PROJECT = 'rest-project';

describe('gcp-secret-manager fake: REST API', () => {
  let fake: GcpSecretManagerFake;

  beforeAll(async () => {
    fake = await startGcpSecretManagerFake({ projectId: PROJECT });
  });
  afterAll(async () => {
    await fake?.close();
  });
  beforeEach(() => fake.resetFaults());

  async function call(
    method: string,
    path: string,
    body?: unknown,
    token: string | null = 'any-token',
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${fake.url}/v1/${path}`, {
      method,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  async function createWithValue(secretId: string, value: string): Promise<void> {
    const created = await call('POST', `projects/${PROJECT}/secrets?secretId=${secretId}`, {
      replication: { automatic: {} },
    });
    expect(created.status).toBe(200);
    const added = await call('POST', `projects/${PROJECT}/secrets/${secretId}:addVersion`, {
      payload: { data: Buffer.from(value).toString('base64'), dataCrc32c: String(crc32c(value)) },
    });
    expect(added.status).toBe(200);
  }

  it('creates a secret and a version, and answers them as Google does', async () => {
    const created = await call('POST', `projects/${PROJECT}/secrets?secretId=created`, {
      replication: { automatic: {} },
      labels: { team: 'data' },
    });
    expect(created.status).toBe(200);
    expect(created.json).toEqual({
      name: `projects/${PROJECT}/secrets/created`,
      replication: { automatic: {} },
      labels: { team: 'data' },
      createTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
      etag: expect.stringMatching(/^".+"$/),
    });
    const added = await call('POST', `projects/${PROJECT}/secrets/created:addVersion`, {
      payload: { data: Buffer.from('héllo').toString('base64'), dataCrc32c: crc32c('héllo') },
    });
    expect(added.json).toEqual({
      name: `projects/${PROJECT}/secrets/created/versions/1`,
      createTime: expect.any(String),
      state: 'ENABLED',
      etag: expect.any(String),
      clientSpecifiedPayloadChecksum: true,
    });
    const got = await call('GET', `projects/${PROJECT}/secrets/created`);
    expect(got.json).toEqual(created.json);
  });

  it('accesses versions/latest with a base64 payload and its CRC32C as a decimal string', async () => {
    await createWithValue('accessed', 'first');
    fake.seed({ accessed: 'second ✓' });
    const latest = await call('GET', `projects/${PROJECT}/secrets/accessed/versions/latest:access`);
    expect(latest).toEqual({
      status: 200,
      json: {
        name: `projects/${PROJECT}/secrets/accessed/versions/2`,
        payload: {
          data: Buffer.from('second ✓').toString('base64'),
          dataCrc32c: String(crc32c('second ✓')),
        },
      },
    });
    const first = await call('GET', `projects/${PROJECT}/secrets/accessed/versions/1:access`);
    expect(
      Buffer.from(String((first.json.payload as { data: string }).data), 'base64').toString(),
    ).toBe('first');
  });

  it('shares one store with the gRPC side on the same port', async () => {
    await createWithValue('airflow-variables-over_rest', 'written over REST');
    const backend = createGcpSecretManagerBackend(
      { project_id: PROJECT, endpoint_url: fake.url },
      { env: { AIRLOCK_TEST_CREDENTIALS: '1' } },
    );
    try {
      expect(await backend.getVariable('over_rest')).toBe('written over REST');
    } finally {
      await backend.dispose?.();
    }
    expect(fake.calls.map((c) => `${c.transport} ${c.method}`)).toEqual([
      'rest CreateSecret',
      'rest AddSecretVersion',
      'grpc AccessSecretVersion',
    ]);
  });

  it('lists secrets and versions in pages', async () => {
    for (const id of ['page-a', 'page-b', 'page-c']) await createWithValue(id, id);
    fake.seed({ 'page-c': 'v2', 'page-d': 'x' });
    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const page = await call(
        'GET',
        `projects/${PROJECT}/secrets?pageSize=2&filter=name:page-${token === '' ? '' : `&pageToken=${token}`}`,
      );
      expect(page.status).toBe(200);
      expect(page.json.totalSize).toBe(4);
      seen.push(
        ...(page.json.secrets as { name: string }[]).map((s) => s.name.split('/').at(-1) ?? ''),
      );
      token = String(page.json.nextPageToken ?? '');
      pages += 1;
    } while (token !== '');
    expect(seen).toEqual(['page-a', 'page-b', 'page-c', 'page-d']);
    expect(pages).toBe(2);
    const versions = await call('GET', `projects/${PROJECT}/secrets/page-c/versions?pageSize=1`);
    expect((versions.json.versions as { name: string }[]).map((v) => v.name)).toEqual([
      `projects/${PROJECT}/secrets/page-c/versions/2`,
    ]);
    expect(versions.json.nextPageToken).toEqual(expect.any(String));
    const empty = await call('GET', 'projects/no-such-project/secrets');
    expect(empty).toEqual({ status: 200, json: {} });
  });

  it('disables, enables and destroys a version; latest does not fall back', async () => {
    await createWithValue('states', 'one');
    fake.seed({ states: 'two' });
    const base = `projects/${PROJECT}/secrets/states/versions`;
    const disabled = await call('POST', `${base}/2:disable`, {});
    expect(disabled.json).toMatchObject({ name: `${base}/2`, state: 'DISABLED' });
    const denied = await call('GET', `${base}/latest:access`);
    expect(denied).toEqual({
      status: 400,
      json: {
        error: {
          code: 400,
          message: `Secret Version [${base}/2] is in DISABLED state.`,
          status: 'FAILED_PRECONDITION',
        },
      },
    });
    expect((await call('POST', `${base}/2:enable`, {})).json.state).toBe('ENABLED');
    const stale = await call('POST', `${base}/1:destroy`, { etag: '"not-the-etag"' });
    expect(stale.status).toBe(409);
    expect((stale.json.error as { status: string }).status).toBe('ABORTED');
    const destroyed = await call('POST', `${base}/1:destroy`, {});
    expect(destroyed.json).toMatchObject({ state: 'DESTROYED', destroyTime: expect.any(String) });
    expect((await call('GET', `${base}/1`)).json.state).toBe('DESTROYED');
    expect((await call('GET', `${base}/1:access`)).status).toBe(400);
  });

  it("deletes a secret, then answers NOT_FOUND in Google's error shape", async () => {
    await createWithValue('deleted', 'gone soon');
    expect(await call('DELETE', `projects/${PROJECT}/secrets/deleted`)).toEqual({
      status: 200,
      json: {},
    });
    expect(await call('GET', `projects/${PROJECT}/secrets/deleted/versions/latest:access`)).toEqual(
      {
        status: 404,
        json: {
          error: {
            code: 404,
            message: `Secret [projects/${PROJECT}/secrets/deleted] not found or has no versions.`,
            status: 'NOT_FOUND',
          },
        },
      },
    );
  });

  it('refuses what Google refuses, with the matching status', async () => {
    await createWithValue('refusals', 'v');
    const again = await call('POST', `projects/${PROJECT}/secrets?secretId=refusals`, {
      replication: { automatic: {} },
    });
    expect(again.status).toBe(409);
    expect(again.json.error).toMatchObject({ code: 409, status: 'ALREADY_EXISTS' });
    const badCrc = await call('POST', `projects/${PROJECT}/secrets/refusals:addVersion`, {
      payload: { data: Buffer.from('abc').toString('base64'), dataCrc32c: '1' },
    });
    expect(badCrc.json.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
    const badBase64 = await call('POST', `projects/${PROJECT}/secrets/refusals:addVersion`, {
      payload: { data: 'not base64!' },
    });
    expect(badBase64.json.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
    const noReplication = await call('POST', `projects/${PROJECT}/secrets?secretId=norep`, {});
    expect(noReplication.json.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
    const anonymous = await call('GET', `projects/${PROJECT}/secrets/refusals`, undefined, null);
    expect(anonymous.json.error).toMatchObject({ code: 401, status: 'UNAUTHENTICATED' });
    const unknown = await call('GET', `projects/${PROJECT}/things`);
    expect(unknown.json.error).toMatchObject({ code: 404, status: 'NOT_FOUND' });
  });

  it('applies injected faults to REST calls too', async () => {
    await createWithValue('faulty', 'v');
    fake.failNext('UNAVAILABLE', 1, 'AccessSecretVersion');
    const failed = await call('GET', `projects/${PROJECT}/secrets/faulty/versions/latest:access`);
    expect(failed).toEqual({
      status: 503,
      json: {
        error: {
          code: 503,
          message: 'injected failure (AccessSecretVersion)',
          status: 'UNAVAILABLE',
        },
      },
    });
    expect(
      (await call('GET', `projects/${PROJECT}/secrets/faulty/versions/latest:access`)).status,
    ).toBe(200);
  });
});
