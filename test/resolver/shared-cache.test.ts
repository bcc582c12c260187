import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsMasker } from '../../src/masking/masker.ts';
import { Fernet, parseFernetKeys } from '../../src/metastore/fernet.ts';
import {
  connectRedis,
  encodeCommand,
  parseRedisUrl,
  parseReply,
  type RedisConnection,
  RespError,
} from '../../src/resolver/_resp.ts';
import { SecretCache } from '../../src/resolver/cache.ts';
import { createResolver, type Resolver } from '../../src/resolver/resolver.ts';
import { createRedisSharedCache, type SharedCache } from '../../src/resolver/shared-cache.ts';
import { runAirlock } from '../helpers/cli.ts';
import { startBlackhole } from '../helpers/fault-proxy.ts';
import { scriptedBackend } from '../helpers/scripted-backend.ts';
import { tempDir } from '../helpers/tmp.ts';

const REDIS_URL = process.env.AIRLOCK_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

describe('resp', () => {
  it('encodes commands as RESP arrays of bulk strings', () => {
    expect(encodeCommand(['SET', 'k', 'é']).toString()).toBe(
      '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\né\r\n',
    );
  });

  it('parses every reply type and waits for partial replies', () => {
    const whole = Buffer.from('*4\r\n+OK\r\n:42\r\n$-1\r\n$5\r\nhe\r\no\r\n-ERR bad\r\n');
    const first = parseReply(whole);
    expect(first?.value).toEqual(['OK', 42, null, 'he\r\no']);
    const second = parseReply(whole, first?.next);
    expect(second?.value).toBeInstanceOf(RespError);
    for (let cut = 1; cut < (first?.next ?? 0); cut++) {
      expect(parseReply(whole.subarray(0, cut))).toBeUndefined();
    }
  });

  it('parses redis URLs and refuses other schemes', () => {
    expect(parseRedisUrl('redis://u:p%40ss@127.0.0.1:6380/3')).toEqual({
      host: '127.0.0.1',
      port: 6380,
      db: 3,
      username: 'u',
      password: 'p@ss',
    });
    expect(() => parseRedisUrl('rediss://h')).toThrow(/unsupported scheme `rediss`/);
  });
});

describe('redis shared cache', () => {
  let probe: RedisConnection;
  const open: Array<Resolver | SharedCache> = [];
  const fernetKey = Fernet.generateKey();
  const keys = parseFernetKeys(fernetKey);

  beforeAll(async () => {
    try {
      probe = await connectRedis(parseRedisUrl(REDIS_URL));
    } catch (err) {
      throw new Error(
        `these tests need a Redis server at ${REDIS_URL} (set AIRLOCK_TEST_REDIS_URL): ${(err as Error).message}`,
      );
    }
  });
  afterAll(async () => {
    await Promise.all(open.map((o) => ('dispose' in o ? o.dispose() : o.close())));
    await probe?.close();
  });

  /** A "process": its own backend, cache, masker and Redis connection, one shared prefix. */
  function worker(prefix: string, values: Record<string, string>) {
    const vault = scriptedBackend('vault', values, { db: 'postgres://u:conn-pw-1@h/db' });
    const masker = new SecretsMasker();
    const shared = createRedisSharedCache({ url: REDIS_URL, keys, prefix });
    const resolver = createResolver({
      backends: [vault],
      cache: new SecretCache({ ttlSeconds: { variable: 60, connection: 60 } }),
      sharedCache: shared,
      masker,
    });
    open.push(resolver);
    return { vault, masker, resolver };
  }

  it('answers a second process from the shared cache, masking what it serves', async () => {
    const prefix = `t-${randomUUID()}`;
    const a = worker(prefix, { token: 'shared-s3cret' });
    const b = worker(prefix, { token: 'shared-s3cret' });
    await a.resolver.getVariable('token');
    await a.resolver.getConnection('db');
    await new Promise((r) => setTimeout(r, 50)); // the shared write is not awaited
    const fromShared = await b.resolver.getVariable('token');
    expect(fromShared).toMatchObject({ value: 'shared-s3cret', source: 'vault', cache: 'shared' });
    const conn = await b.resolver.getConnection('db');
    expect(conn?.value.password).toBe('conn-pw-1');
    expect(b.vault.calls).toEqual([]);
    expect(b.masker.redact('t=shared-s3cret p=conn-pw-1')).toBe('t=*** p=***');
  });

  it('stores entries Fernet-encrypted, never in plaintext', async () => {
    const prefix = `t-${randomUUID()}`;
    const a = worker(prefix, { plain: 'visible-if-leaked' });
    await a.resolver.getVariable('plain');
    await new Promise((r) => setTimeout(r, 50));
    const stored = await probe.command('GET', `${prefix}:cache:v:plain`);
    expect(typeof stored).toBe('string');
    expect(stored).not.toContain('visible-if-leaked');
    expect(keys.decryptToString(stored as string)).toContain('visible-if-leaked');
    const ttl = await probe.command('PTTL', `${prefix}:cache:v:plain`);
    expect(ttl).toBeGreaterThan(50_000);
  });

  it('reaches other processes on invalidate (DEL + PUBLISH)', async () => {
    const prefix = `t-${randomUUID()}`;
    const a = worker(prefix, { k: 'old' });
    const b = worker(prefix, { k: 'old' });
    await b.resolver.getVariable('k'); // b holds 'old' locally and subscribes
    await new Promise((r) => setTimeout(r, 100));
    b.vault.variables.set('k', 'new');
    await a.resolver.invalidate('variable', 'k');
    await new Promise((r) => setTimeout(r, 100));
    expect((await b.resolver.getVariable('k'))?.value).toBe('new');
  });

  it('hears a CLI write (airlock variables set) and forgets its copy', async () => {
    // The CLI uses the default prefix; a separate database keeps its keys apart.
    const url = `${REDIS_URL.replace(/\/\d+$/, '')}/5`;
    const vault = scriptedBackend('env', { cli_written: 'old' });
    const resolver = createResolver({
      backends: [vault],
      cache: new SecretCache(),
      sharedCache: createRedisSharedCache({ url, keys }),
    });
    open.push(resolver);
    expect((await resolver.getVariable('cli_written'))?.value).toBe('old');
    await new Promise((r) => setTimeout(r, 100)); // subscribed
    vault.variables.set('cli_written', 'new');
    const r = await runAirlock(['variables', 'set', 'cli_written', 'new'], {
      env: {
        AIRLOCK_HOME: tempDir(),
        AIRLOCK__CORE__FERNET_KEY: fernetKey,
        AIRLOCK__SECRETS__SHARED_CACHE_URL: url,
      },
    });
    expect(r.code).toBe(0);
    await new Promise((r) => setTimeout(r, 100));
    expect((await resolver.getVariable('cli_written'))?.value).toBe('new');
  });

  it('treats entries written with other keys as absent', async () => {
    const prefix = `t-${randomUUID()}`;
    const other = createRedisSharedCache({
      url: REDIS_URL,
      keys: parseFernetKeys(Fernet.generateKey()),
      prefix,
      subscribe: false,
    });
    open.push(other);
    await other.set(
      'variable',
      'k',
      {
        found: true,
        raw: 'x',
        source: 'vault',
        storedAt: Date.now(),
        expiresAt: Date.now() + 60_000,
      },
      60_000,
    );
    const a = worker(prefix, { k: 'from store' });
    expect((await a.resolver.getVariable('k'))?.value).toBe('from store');
  });

  describe('through the CLI, one Redis for processes with different environments', () => {
    // Its own Redis database and ids, so that other test runs on this Redis do not interfere.
    const url = `${REDIS_URL.replace(/\/\d+$/, '')}/6`;
    const shared = {
      AIRLOCK__CORE__FERNET_KEY: fernetKey,
      AIRLOCK__SECRETS__SHARED_CACHE_URL: url,
    };
    const get = (key: string, env: Record<string, string>) =>
      runAirlock(['variables', 'get', key, '--output', 'json'], {
        env: { AIRLOCK_HOME: tempDir(), ...shared, ...env },
      });

    it("never serves one process's environment value to another", async () => {
      const key = `probe_${randomUUID().slice(0, 8)}`;
      const name = `AIRFLOW_VAR_${key.toUpperCase()}`;
      const a = await get(key, { [name]: 'from-A' });
      expect(JSON.parse(a.stdout)).toMatchObject({ value: 'from-A', source: 'env' });
      const b = await get(key, { [name]: 'from-B' });
      expect(JSON.parse(b.stdout)).toMatchObject({ value: 'from-B', source: 'env' });
      const none = await get(key, {});
      expect(none.code).toBe(1);
      expect(none.stdout).toBe('');
      expect(none.stderr).toContain('AIRLOCK_ERR_VAR_NOT_FOUND');
      expect(`${none.stderr}${b.stdout}`).not.toContain('from-A');
    });

    it("does not let a shared metastore answer shadow a process's own environment", async () => {
      const key = `probe_${randomUUID().slice(0, 8)}`;
      const home = { AIRLOCK_HOME: tempDir(), ...shared };
      const set = await runAirlock(['variables', 'set', key, 'from-metastore'], { env: home });
      expect(set.code, set.stderr).toBe(0);
      const run = (env: Record<string, string>) =>
        runAirlock(['variables', 'get', key, '--output', 'json'], { env: { ...home, ...env } });
      // The first reader fills Redis from the metastore (a shared link)…
      const first = await run({});
      expect(JSON.parse(first.stdout)).toMatchObject({
        value: 'from-metastore',
        source: 'metastore',
      });
      const again = await run({});
      expect(JSON.parse(again.stdout)).toMatchObject({
        value: 'from-metastore',
        source: 'metastore',
      });
      // … and a process whose environment defines the key still gets its own (env comes first).
      const local = await run({ [`AIRFLOW_VAR_${key.toUpperCase()}`]: 'from-env' });
      expect(JSON.parse(local.stdout)).toMatchObject({ value: 'from-env', source: 'env' });
    });

    it('bypasses a shared cache it has no Fernet key for, with one warning', async () => {
      const r = await runAirlock(['variables', 'get', 'keyless'], {
        env: {
          AIRLOCK_HOME: tempDir(),
          AIRLOCK__SECRETS__SHARED_CACHE_URL: url,
          AIRFLOW_VAR_KEYLESS: 'served-anyway',
        },
      });
      expect(r).toMatchObject({ code: 0, stdout: 'served-anyway\n' });
      const warnings = r.stderr.split('\n').filter((l) => l.includes('shared cache'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('AIRLOCK_ERR_CRYPTO_KEY_MISSING');
    });
  });

  it('falls back to the store when Redis is unreachable', async () => {
    const vault = scriptedBackend('vault', { k: 'v' });
    const resolver = createResolver({
      backends: [vault],
      cache: new SecretCache(),
      sharedCache: createRedisSharedCache({ url: 'redis://127.0.0.1:1', keys, subscribe: false }),
    });
    open.push(resolver);
    expect((await resolver.getVariable('k'))?.value).toBe('v');
  });
});

describe('redis shared cache against a server that never answers', () => {
  it('times out once, then is bypassed without touching the network', async () => {
    const hole = await startBlackhole();
    const shared = createRedisSharedCache({
      url: `redis://127.0.0.1:${hole.port}/0`,
      keys: parseFernetKeys(Fernet.generateKey()),
      subscribe: false,
      timeoutMs: 100,
      retryAfterMs: 60_000,
    });
    try {
      await expect(shared.get('variable', 'k')).rejects.toMatchObject({
        code: 'AIRLOCK_ERR_BACKEND_TIMEOUT',
      });
      const record = { found: true, raw: 'v', source: 'env' as const, storedAt: 0, expiresAt: 1 };
      for (let i = 0; i < 20; i++) {
        await expect(shared.get('variable', `k${i}`)).rejects.toMatchObject({
          code: 'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
          details: { bypassed: 1 },
        });
        await expect(shared.set('variable', `k${i}`, record, 1000)).rejects.toMatchObject({
          details: { bypassed: 1 },
        });
      }
      await expect(shared.invalidate('variable', 'k')).rejects.toMatchObject({
        details: { bypassed: 1 },
      });
      expect(hole.accepted()).toBe(1);
    } finally {
      await shared.close();
      await hole.close();
    }
  });
});
