/**
 * Property-based fuzzing (fast-check) of what airlock reads from outside: connection URIs and
 * JSON, the configuration and backend kwargs, import files, and the API's payloads. For any
 * input: either it is accepted, or the error is coded (`AirlockError`), carries no value that
 * was in the input, and (imports, API writes) the store is exactly as it was before.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.ts';
import { isAirlockError } from '../../src/errors.ts';
import { Fernet, parseFernetKeys } from '../../src/metastore/fernet.ts';
import { readConnectionFile, readVariableFile } from '../../src/metastore/import-export.ts';
import { Metastore } from '../../src/metastore/metastore.ts';
import { Connection } from '../../src/model/connection.ts';
import { CONNECTION_FIELDS } from '../../src/server/service.ts';
import { tempDir } from '../helpers/tmp.ts';
import { createTestApp, type TestApp } from '../server/_app.ts';

/** A value that must never appear in an error: it stands for a password or a secret. */
const CANARY = 'Zq7-canary-secret-Vx3';

const RUNS = Number(process.env.AIRLOCK_FUZZ_RUNS ?? 300);

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return [err.message, JSON.stringify(err), errorText(err.cause ?? '')].join('\n');
}

/** Runs `fn`: it returns, or it throws a coded error that does not quote the canary. */
function codedOrFine(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(isAirlockError(err), `${(err as Error)?.name}: not an AirlockError`).toBe(true);
    expect(errorText(err)).not.toContain(CANARY);
  }
}

async function codedOrFineAsync(fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    expect(isAirlockError(err), `${(err as Error)?.name}: not an AirlockError`).toBe(true);
    expect(errorText(err)).not.toContain(CANARY);
    return false;
  }
}

/** The characters URIs, JSON, YAML and `.env` treat specially, and some that UTF-8 cannot hold. */
const SPECIAL = 'abc:/@?#[]%{}"\\,=&+*! \n\t\u0000\u00e9\ud800\ud83d\ude00'.split('');
/** Text for names (keys, conn_ids, backend names): messages may name them. */
const plain = fc.string({ unit: fc.constantFrom(...SPECIAL), maxLength: 30 });
/** Text for values: it may hold the canary, which no message may quote. */
const noisy = fc.string({ unit: fc.constantFrom(...SPECIAL, CANARY), maxLength: 30 });

describe('fuzz: connection URIs and JSON', () => {
  it('parses any URI with a secret password, or fails coded without quoting it', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('postgres', 'mysql', 'http', 'aws', 'google-cloud-platform', 'a+b.c-d'),
        noisy,
        noisy,
        noisy,
        (scheme, host, rest, extra) => {
          codedOrFine(() =>
            Connection.fromUri(`${scheme}://user:${CANARY}${extra}@${host}${rest}`, 'c'),
          );
          codedOrFine(() => Connection.fromUri(`${host}${CANARY}${rest}`, 'c'));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('parses any JSON connection, or fails coded without quoting a field', () => {
    const field = fc.oneof(noisy, fc.integer(), fc.constant(null), fc.boolean(), fc.jsonValue());
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom(...CONNECTION_FIELDS, 'uri', 'other'), field),
        noisy,
        (record, tail) => {
          const withSecret = { ...record, password: CANARY };
          codedOrFine(() => Connection.fromJson(JSON.stringify(withSecret), 'c'));
          codedOrFine(() => Connection.deserialize('c', `${JSON.stringify(record)}${tail}`));
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: configuration and kwargs', () => {
  const names = [
    'AIRLOCK__SECRETS__BACKEND',
    'AIRLOCK__SECRETS__BACKEND_KWARGS',
    'AIRLOCK__SECRETS__BACKENDS',
    'AIRLOCK__SECRETS__FALLTHROUGH_ON_ERROR',
    'AIRLOCK__SECRETS__LOOKUP_TIMEOUT_SECONDS',
    'AIRLOCK__SECRETS__CACHE_TTL_SECONDS',
    'AIRLOCK__SECRETS__SHARED_CACHE_TIMEOUT_MS',
  ];
  /** Settings whose value is a secret (a key, a URL with a password). */
  const secretNames = [
    'AIRLOCK__CORE__FERNET_KEY',
    'AIRLOCK__DATABASE__URL',
    'AIRLOCK__SECRETS__SHARED_CACHE_URL',
  ];
  const kwargs = fc.dictionary(
    fc.constantFrom(
      'url',
      'token',
      'mount_point',
      'kv_engine_version',
      'timeout',
      'variables_path',
      'connections_prefix',
      'aws_secret_access_key',
      'region_name',
      'config_kwargs',
      'vault_url',
      'project_id',
      'variables_file_path',
    ),
    fc.oneof(fc.constant(CANARY), noisy, fc.integer(), fc.jsonValue({ maxDepth: 2 })),
  );

  it('loads or refuses any environment with one ConfigError, never echoing a value', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom(...names), plain),
        fc.dictionary(fc.constantFrom(...secretNames), fc.oneof(noisy, fc.constant(CANARY))),
        fc.constantFrom('vault', 'aws-ssm', 'gcp-secret-manager', 'local-file', 'nope'),
        kwargs,
        (env, secrets, backend, kw) => {
          codedOrFine(() => loadConfig({ ...env, ...secrets }));
          codedOrFine(() =>
            loadConfig({
              AIRLOCK__SECRETS__BACKEND: backend,
              AIRLOCK__SECRETS__BACKEND_KWARGS: JSON.stringify(kw),
            }),
          );
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: import files', () => {
  const dir = tempDir('airlock-fuzz-');
  let store: Metastore;
  beforeAll(async () => {
    store = await Metastore.open({
      url: `sqlite:///${join(dir, 'fuzz.db')}`,
      keys: parseFernetKeys(Fernet.generateKey()),
    });
    await store.setVariable('kept', 'before');
  });
  afterAll(() => store?.close());

  async function snapshot(): Promise<string> {
    const rows = await store.kysely
      .selectFrom('variable')
      .select(['key', 'description'])
      .orderBy('key')
      .execute();
    const conns = await store.kysely
      .selectFrom('connection')
      .select(['conn_id', 'host'])
      .orderBy('conn_id')
      .execute();
    return JSON.stringify([rows, conns]);
  }

  /** File content: mostly-valid JSON/YAML/.env with noise, bytes that are not UTF-8, and the canary. */
  const content = fc.oneof(
    fc
      .dictionary(plain, fc.oneof(noisy, fc.jsonValue({ maxDepth: 2 })), { maxKeys: 4 })
      .map((d) => JSON.stringify(d)),
    fc.tuple(plain, noisy).map(([k, v]) => `{"${k}": "${v}", "${k}": "${CANARY}"}`),
    fc.tuple(plain, noisy).map(([k, v]) => `${k}=${v}\n${k}=${CANARY}\n`),
    fc.tuple(plain, noisy).map(([k, v]) => `${k}: &a ${v}\nb: *a\nc: [*a, ${CANARY}]\n`),
    fc
      .uint8Array({ maxLength: 40 })
      .map((b) => `{"k": "${Buffer.from(b).toString('latin1')}${CANARY}"}`),
    plain,
  );

  it('imports a file whole, or changes nothing and says why (coded, no value)', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        content,
        fc.constantFrom('json', 'yaml', 'env'),
        fc.boolean(),
        async (text, format, asBytes) => {
          n++;
          const path = join(dir, `in-${n}.${format}`);
          writeFileSync(path, asBytes ? Buffer.from(text, 'latin1') : text);
          const before = await snapshot();
          const ok = await codedOrFineAsync(() =>
            store.importVariables(readVariableFile({ path }), { onExisting: 'fail' }),
          );
          if (!ok) expect(await snapshot()).toBe(before);
          const before2 = await snapshot();
          const ok2 = await codedOrFineAsync(async () =>
            store.importConnections(await readConnectionFile({ path }), { onExisting: 'fail' }),
          );
          if (!ok2) expect(await snapshot()).toBe(before2);
        },
      ),
      { numRuns: Math.max(50, Math.floor(RUNS / 3)) },
    );
  });
});

describe('fuzz: API payloads', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  const body = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc
      .record(
        {
          key: plain,
          value: fc.oneof(noisy, fc.constant(CANARY), fc.jsonValue()),
          description: fc.oneof(noisy, fc.constant(null), fc.integer()),
          connection_id: plain,
          conn_type: fc.oneof(noisy, fc.constant('http')),
          password: fc.constant(CANARY),
          port: fc.oneof(fc.integer(), noisy),
          extra: fc.oneof(noisy, fc.constant(`{"token": "${CANARY}"}`)),
        },
        { requiredKeys: [] },
      )
      .map((v) => JSON.stringify(v)),
    noisy,
  );

  async function rows(): Promise<string> {
    const vars = await t.metastore.kysely.selectFrom('variable').select('key').execute();
    const conns = await t.metastore.kysely.selectFrom('connection').select('conn_id').execute();
    return JSON.stringify([vars, conns]);
  }

  it('answers any payload with success or a coded 4xx error, never a 500 or a value', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          ['POST', '/api/v1/variables'],
          ['PATCH', '/api/v1/variables/k'],
          ['POST', '/api/v1/connections'],
          ['PATCH', '/api/v1/connections/c'],
        ),
        body,
        async ([method, path], payload) => {
          const before = await rows();
          const res = await t.as('admin', path as string, {
            method: method as string,
            body: payload,
          });
          const text = await res.text();
          expect(res.status, text).toBeLessThan(500);
          if (res.status >= 400) {
            const parsed = JSON.parse(text) as { code?: string; detail?: string };
            expect(parsed.code).toMatch(/^AIRLOCK_ERR_/);
            expect(text).not.toContain(CANARY);
            expect(await rows()).toBe(before);
          }
        },
      ),
      { numRuns: Math.max(50, Math.floor(RUNS / 3)) },
    );
  });
});
