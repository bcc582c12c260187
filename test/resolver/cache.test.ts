import { describe, expect, it } from 'vitest';
import type { SecretsBackend } from '../../src/backends/backend.ts';
import { formatWhich } from '../../src/cli/commands/secrets.ts';
import { AirlockError } from '../../src/errors.ts';
import { SecretsMasker } from '../../src/masking/masker.ts';
import { SecretCache, type SecretCacheOptions } from '../../src/resolver/cache.ts';
import { createResolver, type ResolverOptions } from '../../src/resolver/resolver.ts';
import { scriptedBackend } from '../helpers/scripted-backend.ts';

const down = () =>
  new AirlockError('AIRLOCK_ERR_BACKEND_UNAVAILABLE', 'vault: could not read (HTTP 503)');

/** A resolver with a cache on a clock the test moves. */
function setup(
  cacheOptions: SecretCacheOptions = {},
  backends?: SecretsBackend[],
  extra: Partial<ResolverOptions> = {},
) {
  const clock = { now: 1_000_000 };
  const vault = scriptedBackend(
    'vault',
    { k: 'v1', other: 'o' },
    { db: 'postgres://user:pw@host:5432/db' },
  );
  const cache = new SecretCache({ ...cacheOptions, now: () => clock.now });
  const resolver = createResolver({ backends: backends ?? [vault], cache, ...extra });
  return { clock, vault, cache, resolver };
}

describe('resolver cache', () => {
  it('serves a repeated lookup from the cache, naming the backend that served it', async () => {
    const { vault, resolver } = setup();
    const first = await resolver.getVariable('k');
    const second = await resolver.getVariable('k');
    expect(first).toMatchObject({ value: 'v1', source: 'vault' });
    expect(first?.cache).toBeUndefined();
    expect(second).toMatchObject({ value: 'v1', source: 'vault', cache: 'cached' });
    expect(second?.trace).toEqual([
      { backend: 'vault', outcome: 'hit', durationMs: 0, cache: 'cached' },
    ]);
    expect(vault.calls).toEqual(['variable:k']);
  });

  it('reads the store again once the TTL has passed', async () => {
    const { clock, vault, resolver } = setup({ ttlSeconds: { variable: 10 } });
    await resolver.getVariable('k');
    clock.now += 9_999;
    await resolver.getVariable('k');
    expect(vault.calls).toHaveLength(1);
    vault.variables.set('k', 'v2');
    clock.now += 2;
    expect((await resolver.getVariable('k'))?.value).toBe('v2');
    expect(vault.calls).toHaveLength(2);
  });

  it('expires entries on the real clock, read once per event-loop turn', async () => {
    const vault = scriptedBackend('vault', { k: 'v' });
    const resolver = createResolver({
      backends: [vault],
      cache: new SecretCache({ ttlSeconds: { variable: 0.03 } }),
    });
    await resolver.getVariable('k');
    await resolver.getVariable('k');
    expect(vault.calls).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 60));
    await resolver.getVariable('k');
    expect(vault.calls).toHaveLength(2);
  });

  it('keeps a TTL per kind: a kind with TTL 0 is never cached', async () => {
    const { vault, resolver } = setup({
      ttlSeconds: { variable: 60, connection: 0 },
      negativeTtlSeconds: 0,
    });
    await resolver.getConnection('db');
    await resolver.getConnection('db');
    await resolver.getVariable('k');
    await resolver.getVariable('k');
    expect(vault.calls).toEqual(['connection:db', 'connection:db', 'variable:k']);
  });

  it('caches misses of both kinds for the negative TTL', async () => {
    const { clock, vault, resolver } = setup({ negativeTtlSeconds: 5 });
    expect(await resolver.getVariable('nope')).toBeUndefined();
    expect(await resolver.getVariable('nope')).toBeUndefined();
    expect(await resolver.getConnection('nope')).toBeUndefined();
    expect(await resolver.getConnection('nope')).toBeUndefined();
    expect(vault.calls).toEqual(['variable:nope', 'connection:nope']);
    clock.now += 5_001;
    vault.variables.set('nope', 'now here');
    expect((await resolver.getVariable('nope'))?.value).toBe('now here');
  });

  it('coalesces concurrent lookups of one key into one store call', async () => {
    const { vault, resolver } = setup();
    vault.delayMs = 20;
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        i % 2 === 0 ? resolver.getVariable('k') : resolver.getVariable('other'),
      ),
    );
    expect(answers.map((a) => a?.value)).toEqual(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? 'v1' : 'o')),
    );
    expect([...vault.calls].sort()).toEqual(['variable:k', 'variable:other']);
  });

  it('shares one failure among coalesced callers, and caches nothing for it', async () => {
    const { vault, resolver } = setup();
    vault.delayMs = 10;
    vault.variables.set('k', down());
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => resolver.getVariable('k')),
    );
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(vault.calls).toHaveLength(1);
    vault.variables.set('k', 'back');
    expect((await resolver.getVariable('k'))?.value).toBe('back');
  });

  it('lets one caller give up (its signal) without failing the others', async () => {
    const { vault, resolver } = setup();
    vault.delayMs = 30;
    const controller = new AbortController();
    const impatient = resolver.getVariable('k', { signal: controller.signal });
    const patient = resolver.getVariable('k');
    controller.abort(new Error('gave up'));
    await expect(impatient).rejects.toThrow('gave up');
    expect((await patient)?.value).toBe('v1');
    expect(vault.calls).toHaveLength(1);
  });

  it('serves a stale value when the refresh fails within max_stale_seconds, marked stale', async () => {
    const { clock, vault, resolver, cache } = setup({
      ttlSeconds: { variable: 10 },
      maxStaleSeconds: 60,
    });
    await resolver.getVariable('k');
    vault.variables.set('k', down());
    clock.now += 30_000;
    const stale = await resolver.getVariable('k');
    expect(stale).toMatchObject({ value: 'v1', source: 'vault', cache: 'stale' });
    expect(stale?.trace[0]).toMatchObject({ backend: 'vault', outcome: 'hit', cache: 'stale' });
    expect(cache.stats.staleServed).toBe(1);
    // Past the window the failure surfaces.
    clock.now += 45_000;
    await expect(resolver.getVariable('k')).rejects.toMatchObject({
      code: 'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
    });
  });

  it('never serves stale values when max_stale_seconds is 0', async () => {
    const { clock, vault, resolver } = setup({ ttlSeconds: { variable: 10 } });
    await resolver.getVariable('k');
    vault.variables.set('k', down());
    clock.now += 10_001;
    await expect(resolver.getVariable('k')).rejects.toMatchObject({
      code: 'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
    });
  });

  it('does not cache a miss that followed a failure (fallthrough_on_error)', async () => {
    const vault = scriptedBackend('vault', { k: down() });
    const env = scriptedBackend('env', {});
    const { resolver } = setup({}, [vault, env], { fallthroughOnError: true });
    expect(await resolver.getVariable('k')).toBeUndefined();
    vault.variables.set('k', 'recovered');
    expect((await resolver.getVariable('k'))?.value).toBe('recovered');
  });

  it('bypasses the cache with forceFetch and keeps the value it read', async () => {
    const { vault, resolver } = setup();
    await resolver.getVariable('k');
    vault.variables.set('k', 'v2');
    expect((await resolver.getVariable('k'))?.value).toBe('v1');
    const forced = await resolver.getVariable('k', { forceFetch: true });
    expect(forced).toMatchObject({ value: 'v2' });
    expect(forced?.cache).toBeUndefined();
    expect((await resolver.getVariable('k'))?.value).toBe('v2');
    expect(vault.calls).toHaveLength(2);
  });

  it('forgets an id on invalidate, and a read in flight during the write is not cached', async () => {
    const { vault, resolver } = setup();
    await resolver.getVariable('k');
    vault.variables.set('k', 'v2');
    await resolver.invalidate('variable', 'k');
    expect((await resolver.getVariable('k'))?.value).toBe('v2');

    vault.delayMs = 20;
    const inFlight = resolver.getVariable('other'); // reads 'o'
    await new Promise((r) => setTimeout(r, 5));
    vault.variables.set('other', 'written');
    await resolver.invalidate('variable', 'other');
    expect((await inFlight)?.value).toBe('o');
    expect((await resolver.getVariable('other'))?.value).toBe('written');
  });

  it('bounds the entries per kind, evicting the least recently used', async () => {
    const vault = scriptedBackend('vault', { a: '1', b: '2', c: '3' });
    const { resolver, cache } = setup({ maxEntries: 2 }, [vault]);
    await resolver.getVariable('a');
    await resolver.getVariable('b');
    await resolver.getVariable('a'); // a is now the most recent
    await resolver.getVariable('c'); // evicts b
    expect(cache.size('variable')).toBe(2);
    expect(cache.stats.evictions).toBe(1);
    vault.calls.length = 0;
    await resolver.getVariable('a');
    await resolver.getVariable('c');
    await resolver.getVariable('b');
    expect(vault.calls).toEqual(['variable:b']);
  });

  it('caches the parsed Connection, not a lossy URI', async () => {
    const raw = JSON.stringify({
      conn_type: 'http',
      host: 'http://inner.example',
      password: '',
      extra: { nested: { a: [1, 2] } },
    });
    const vault = scriptedBackend('vault', {}, { web: raw });
    const { resolver } = setup({}, [vault]);
    const first = await resolver.getConnection('web');
    const second = await resolver.getConnection('web');
    expect(second?.cache).toBe('cached');
    expect(second?.value.toDict()).toEqual(first?.value.toDict());
    expect(second?.value.host).toBe('http://inner.example');
  });

  it('registers cached values for masking like fetched ones', async () => {
    const masker = new SecretsMasker();
    const vault = scriptedBackend('vault', { token: 's3cr3t-value' });
    const { resolver } = setup({}, [vault], { masker });
    await resolver.getVariable('token');
    await resolver.getVariable('token');
    expect(masker.redact('x s3cr3t-value y')).toBe('x *** y');
  });

  it('fills the cache from batch lookups and prefetch, with one batch call', async () => {
    const batches: string[][] = [];
    const vault = scriptedBackend('vault', { a: '1', b: '2' }, { db: 'mysql://h' });
    const batching: SecretsBackend = {
      ...vault,
      getVariable: vault.getVariable,
      getConnectionValue: vault.getConnectionValue,
      async getVariables(keys) {
        batches.push([...keys]);
        const out = new Map<string, string>();
        for (const key of keys) {
          const v = vault.variables.get(key);
          if (typeof v === 'string') out.set(key, v);
        }
        return out;
      },
    };
    const { resolver } = setup({}, [batching]);
    const got = await resolver.prefetch({ variables: ['a', 'b', 'missing'], connections: ['db'] });
    expect([...got.variables.keys()].sort()).toEqual(['a', 'b']);
    expect(got.connections.get('db')?.value.host).toBe('h');
    expect(batches).toEqual([['a', 'b', 'missing']]);
    vault.calls.length = 0;
    expect((await resolver.getVariable('a'))?.cache).toBe('cached');
    expect(await resolver.getVariable('missing')).toBeUndefined();
    const again = await resolver.getVariables(['a', 'b', 'missing']);
    expect([...again.values()].map((r) => r.cache)).toEqual(['cached', 'cached']);
    expect(batches).toHaveLength(1);
    expect(vault.calls).toEqual([]);
  });

  it('serves stale values to a failing batch when every id has one', async () => {
    const { clock, vault, resolver } = setup({ ttlSeconds: { variable: 1 }, maxStaleSeconds: 60 });
    await resolver.getVariables(['k', 'other']);
    vault.variables.set('k', down());
    clock.now += 5_000;
    const got = await resolver.getVariables(['k', 'other']);
    expect(got.get('k')).toMatchObject({ value: 'v1', cache: 'stale' });
  });

  it('shows a cached answer in which, and walks the chain with forceFetch', async () => {
    const env = scriptedBackend('env', {});
    const vault = scriptedBackend('vault', { k: 'v' });
    const { resolver } = setup({}, [vault, env]);
    await resolver.getVariable('k');
    const cached = await resolver.which('variable', 'k');
    expect(cached.source).toBe('vault');
    expect(cached.trace.map((t) => [t.backend, t.outcome, t.cache])).toEqual([
      ['vault', 'hit', 'cached'],
      ['env', 'skipped', 'cached'],
    ]);
    expect(formatWhich(cached)).toBe(
      [
        'variable `k`: served by vault',
        '  1. vault    hit (cached)',
        '  2. env      skipped (cached)              (served by vault)',
      ].join('\n'),
    );
    const fresh = await resolver.which('variable', 'k', { forceFetch: true });
    expect(fresh.trace.every((t) => t.cache === undefined)).toBe(true);
    expect(vault.calls).toHaveLength(2);
  });

  it('walks the chain on every lookup without a cache', async () => {
    const vault = scriptedBackend('vault', { k: 'v' });
    const resolver = createResolver({ backends: [vault] });
    await resolver.getVariable('k');
    await resolver.getVariable('k');
    expect(vault.calls).toHaveLength(2);
  });
});
