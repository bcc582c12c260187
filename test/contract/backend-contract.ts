/**
 * @module test/contract/backend-contract
 * The contract every backend passes, against its real store or a faithful fake.
 * `BACKENDS=vault,aws-ssm npm test` runs only the named backends' contracts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SecretsBackend } from '../../src/backends/backend.ts';
import { isAirlockError } from '../../src/errors.ts';
import { Connection } from '../../src/model/connection.ts';

/** A backend under test, its seeding hooks and its fault hooks. */
export interface ContractContext {
  /** The backend with its default options. */
  backend: SecretsBackend;
  /** Stores a Variable where the default backend reads it. */
  seedVariable(key: string, value: string): Promise<void>;
  /**
   * Stores a Connection where the default backend reads it, as a URI string or as the store's
   * structured form of the JSON fields (a Vault secret's keys, an AWS JSON secret, …).
   */
  seedConnection(connId: string, value: string | Record<string, unknown>): Promise<void>;
  /** A backend with custom prefixes (or paths) and seeders that write under them. */
  withPrefixes?(prefixes: { variables: string; connections: string }): Promise<{
    backend: SecretsBackend;
    seedVariable(key: string, value: string): Promise<void>;
  }>;
  /** Makes the store answer the next request with this HTTP status. */
  failNext?(status: number): void;
  /** Adds latency (ms) to every answer of the store. */
  setLatency?(ms: number): void;
  /** A backend whose per-request timeout is `timeoutMs`. */
  withTimeout?(timeoutMs: number): SecretsBackend;
  /**
   * Stores `secret` so that reading `key` fails (a malformed entry, a file that does not
   * parse); the error must not quote it.
   */
  corruptVariable?(key: string, secret: string): Promise<void>;
  teardown(): Promise<void>;
}

/** The optional parts of the contract a backend takes part in. */
export interface ContractCapabilities {
  /** Prefixes/paths are options of this backend. */
  prefixes?: boolean;
  /** The backend talks to a remote store: status mapping and timeouts apply. */
  remote?: boolean;
}

/** Options of {@link runBackendContract}. */
export interface ContractOptions {
  name: string;
  setup: () => Promise<ContractContext>;
  capabilities?: ContractCapabilities;
  /** Tests this backend cannot pass, each with the reason. */
  skip?: { reason: string; tests: string[] }[];
}

const CANARY = 'CANARY-9f3b7c-not-for-logs';

function errorText(err: unknown, seen = new Set<unknown>()): string {
  if (err === null || err === undefined || seen.has(err)) return '';
  seen.add(err);
  if (!(err instanceof Error)) return String(err);
  let json = '';
  try {
    json = JSON.stringify(err);
  } catch {
    json = '';
  }
  return [err.message, err.stack ?? '', json, errorText(err.cause, seen)].join('\n');
}

async function caught(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}

/**
 * Runs the backend contract.
 *
 * @example
 * ```ts
 * runBackendContract({ name: 'env', setup: async () => ({ backend, seedVariable, … }) });
 * ```
 */
export function runBackendContract(options: ContractOptions): void {
  const filter = process.env.BACKENDS?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const selected = !filter || filter.length === 0 || filter.includes(options.name);
  const caps = options.capabilities ?? {};
  const skipped = new Set(options.skip?.flatMap((s) => s.tests) ?? []);
  const test = (title: string, fn: () => Promise<void>, enabled = true) => {
    if (!enabled || skipped.has(title)) return;
    it(title, fn);
  };

  describe.runIf(selected)(`backend contract: ${options.name}`, () => {
    let ctx: ContractContext;
    beforeAll(async () => {
      ctx = await options.setup();
    });
    afterAll(async () => {
      await ctx?.backend.dispose?.();
      await ctx?.teardown();
    });

    test('has the name it is registered under', async () => {
      expect(ctx.backend.name).toBe(options.name);
    });

    test('returns undefined when a variable is missing', async () => {
      expect(await ctx.backend.getVariable('contract_missing_var')).toBeUndefined();
    });

    test('returns undefined when a connection is missing', async () => {
      expect(await ctx.backend.getConnectionValue('contract_missing_conn')).toBeUndefined();
    });

    test('round-trips variables (unicode, empty, JSON-looking, multi-line)', async () => {
      const cases: [string, string][] = [
        ['contract_plain', 'hello world'],
        ['contract_unicode', 'Grüße, 世界 🚀'],
        ['contract_json', '{"a": [1, 2, {"b": null}], "c": "d"}'],
        ['contract_multiline', 'line one\nline two'],
        ['contract_spaces', '  padded  '],
      ];
      if (!skipped.has('empty variable')) cases.push(['contract_empty', '']);
      for (const [key, value] of cases) await ctx.seedVariable(key, value);
      for (const [key, value] of cases) expect(await ctx.backend.getVariable(key)).toBe(value);
    });

    test('serves a connection stored as a URI and one stored as JSON alike', async () => {
      const uri =
        'postgres://us%40er:p%40ss%3Aw%2Ford@db.example.com:5432/analytics?sslmode=require';
      await ctx.seedConnection('contract_conn_uri', uri);
      await ctx.seedConnection('contract_conn_json', {
        conn_type: 'postgres',
        host: 'db.example.com',
        login: 'us@er',
        password: 'p@ss:w/ord',
        schema: 'analytics',
        port: 5432,
        extra: { sslmode: 'require' },
      });
      const fromUri = await ctx.backend.getConnectionValue('contract_conn_uri');
      const fromJson = await ctx.backend.getConnectionValue('contract_conn_json');
      expect(fromUri).toBeTypeOf('string');
      expect(fromJson).toBeTypeOf('string');
      const a = Connection.deserialize('c', fromUri as string).toDict();
      const b = Connection.deserialize('c', fromJson as string).toDict();
      expect(a).toEqual(b);
      expect(a.password).toBe('p@ss:w/ord');
      expect(a.extra).toEqual({ sslmode: 'require' });
    });

    test(
      'honours custom prefixes',
      async () => {
        const custom = await ctx.withPrefixes!({
          variables: 'contract-custom-vars',
          connections: 'contract-custom-conns',
        });
        await custom.seedVariable('contract_prefixed', 'under the custom prefix');
        expect(await custom.backend.getVariable('contract_prefixed')).toBe(
          'under the custom prefix',
        );
        expect(await ctx.backend.getVariable('contract_prefixed')).toBeUndefined();
        await ctx.seedVariable('contract_default_only', 'default prefix');
        expect(await custom.backend.getVariable('contract_default_only')).toBeUndefined();
        await custom.backend.dispose?.();
      },
      caps.prefixes === true,
    );

    test(
      'maps a 5xx answer to AIRLOCK_ERR_BACKEND_UNAVAILABLE',
      async () => {
        await ctx.seedVariable('contract_5xx', 'value');
        ctx.failNext!(503);
        const err = await caught(() => ctx.backend.getVariable('contract_5xx'));
        expect(isAirlockError(err) && err.code).toBe('AIRLOCK_ERR_BACKEND_UNAVAILABLE');
      },
      caps.remote === true,
    );

    test(
      'maps a 401/403 answer to AIRLOCK_ERR_BACKEND_AUTH, not to a miss',
      async () => {
        await ctx.seedVariable('contract_403', 'value');
        ctx.failNext!(403);
        const err = await caught(() => ctx.backend.getVariable('contract_403'));
        expect(isAirlockError(err) && err.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
      },
      caps.remote === true,
    );

    test(
      'honours its timeout',
      async () => {
        await ctx.seedVariable('contract_slow', 'value');
        const quick = ctx.withTimeout!(200);
        ctx.setLatency!(1500);
        try {
          const err = await caught(() => quick.getVariable('contract_slow'));
          expect(isAirlockError(err) && err.code).toBe('AIRLOCK_ERR_BACKEND_TIMEOUT');
        } finally {
          ctx.setLatency!(0);
          await quick.dispose?.();
        }
      },
      caps.remote === true,
    );

    test('never puts a stored secret in an error message, stack, cause or JSON', async () => {
      const errors: unknown[] = [];
      await ctx.seedVariable('contract_canary', CANARY);
      await ctx.seedConnection('contract_canary_conn', `postgres://user:${CANARY}@host/db`);
      if (caps.remote) {
        for (const status of [500, 403, 401, 503]) {
          ctx.failNext!(status);
          errors.push(await caught(() => ctx.backend.getVariable('contract_canary')));
          ctx.failNext!(status);
          errors.push(await caught(() => ctx.backend.getConnectionValue('contract_canary_conn')));
        }
      }
      if (ctx.corruptVariable) {
        await ctx.corruptVariable('contract_corrupt', CANARY);
        errors.push(await caught(() => ctx.backend.getVariable('contract_corrupt')));
      }
      const text = errors.map((e) => errorText(e)).join('\n');
      expect(text).not.toContain(CANARY);
      expect(text).not.toContain(encodeURIComponent(CANARY));
      expect(JSON.stringify(ctx.backend.describe())).not.toContain(CANARY);
    });
  });
}
