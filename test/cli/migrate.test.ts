/**
 * `airlock migrate` through the built CLI: 10,000 Variables and 1,000 Connections from a
 * metastore to each store and back into a fresh metastore, compared value by value (the two
 * metastores' exports are equal); a rerun writes nothing; a dry run lists names and actions and
 * prints no value.
 *
 * `npm test` moves the full 10,000 / 1,000 through Vault and a tenth of it through the other
 * stores (moto answers every AWS call on one thread: the full size takes minutes per store);
 * `AIRLOCK_MIGRATE_FULL=1` moves the full size through every store.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AZURE_TEST_TOKEN } from '../../src/backends/azure-key-vault.ts';
import {
  type AzureKeyVaultFake,
  startAzureKeyVaultFake,
} from '../../src/testing/fakes/azure-key-vault-fake.ts';
import {
  type GcpSecretManagerFake,
  startGcpSecretManagerFake,
} from '../../src/testing/fakes/gcp-secret-manager-fake.ts';
import { startVaultFake, type VaultFake } from '../../src/testing/fakes/vault-fake.ts';
import { runAirlock } from '../helpers/cli.ts';
import { useMoto } from '../helpers/moto.ts';
import { awsEnv, azureEnv, gcpEnv } from '../helpers/stores.ts';
import { tempDir } from '../helpers/tmp.ts';
import { vaultEnv } from '../helpers/vault.ts';

interface Size {
  variables: number;
  connections: number;
}
const FULL_SIZE: Size = { variables: 10_000, connections: 1_000 };
const TENTH: Size = { variables: 1_000, connections: 100 };
/** The size for the stores other than Vault. */
const OTHERS: Size = process.env.AIRLOCK_MIGRATE_FULL === '1' ? FULL_SIZE : TENTH;
const MARK = 'mig-value-';

/** Keys every store can hold and give back unchanged (Key Vault turns `_` into `-`). */
const varKey = (i: number) => `var-${String(i).padStart(5, '0')}`;
const connId = (i: number) => `conn-${String(i).padStart(4, '0')}`;

function seedFiles(dir: string, size: Size): { vars: string; conns: string } {
  const vars: Record<string, string> = {};
  for (let i = 0; i < size.variables; i++) {
    vars[varKey(i)] = i % 10 === 0 ? JSON.stringify({ n: i, mark: `${MARK}${i}` }) : `${MARK}${i}`;
  }
  const conns: Record<string, Record<string, unknown>> = {};
  for (let i = 0; i < size.connections; i++) {
    conns[connId(i)] = {
      conn_type: i % 2 === 0 ? 'postgres' : 'http',
      host: `host-${i}.example.com`,
      login: `user${i}`,
      password: `${MARK}pw-${i}`,
      schema: `db${i}`,
      port: 5000 + i,
      extra: JSON.stringify({ sslmode: 'require', n: i }),
    };
  }
  const varsFile = join(dir, 'vars.json');
  const connsFile = join(dir, 'conns.json');
  writeFileSync(varsFile, JSON.stringify(vars));
  writeFileSync(connsFile, JSON.stringify(conns));
  return { vars: varsFile, conns: connsFile };
}

async function cli(args: string[], env: Record<string, string>, timeoutMs = 240_000) {
  const r = await runAirlock(args, { env, timeoutMs });
  if (r.code !== 0)
    throw new Error(`airlock ${args.join(' ')} exited ${r.code}:\n${r.stderr.slice(0, 2000)}`);
  return r;
}

/** A metastore seeded with `size` Variables and Connections. */
interface Source {
  home: string;
  vars: string;
  conns: string;
  size: Size;
}
const sources = new Map<Size, Source>();

async function seeded(size: Size): Promise<Source> {
  const known = sources.get(size);
  if (known) return known;
  const home = tempDir('airlock-migrate-source-');
  const files = seedFiles(home, size);
  await cli(['variables', 'import', files.vars], { AIRLOCK_HOME: home });
  await cli(['connections', 'import', files.conns], { AIRLOCK_HOME: home });
  const source = { home, ...files, size };
  sources.set(size, source);
  return source;
}

/** The metastore's Variables and Connections as Airflow's export files, parsed. */
async function exported(home: string): Promise<{ vars: unknown; conns: unknown }> {
  const dir = tempDir('airlock-migrate-export-');
  await cli(['variables', 'export', join(dir, 'v.json')], { AIRLOCK_HOME: home });
  await cli(['connections', 'export', join(dir, 'c.json')], { AIRLOCK_HOME: home });
  return {
    vars: JSON.parse(readFileSync(join(dir, 'v.json'), 'utf8')),
    conns: JSON.parse(readFileSync(join(dir, 'c.json'), 'utf8')),
  };
}

/** There and back again, a rerun, and a dry run, against one store configured by `storeEnv`. */
async function roundTrip(
  store: string,
  storeEnv: () => Record<string, string>,
  size: Size = OTHERS,
): Promise<void> {
  const source = await seeded(size);
  const { variables: VARIABLES, connections: CONNECTIONS } = size;
  const there = await cli(['migrate', '--from', 'metastore', '--to', store], {
    ...storeEnv(),
    AIRLOCK_HOME: source.home,
  });
  expect(there.stdout).toBe(
    `variables: ${VARIABLES} created, 0 updated, 0 unchanged, 0 skipped, 0 failed (metastore → ${store})\n` +
      `connections: ${CONNECTIONS} created, 0 updated, 0 unchanged, 0 skipped, 0 failed (metastore → ${store})\n`,
  );
  expect(there.stderr).toBe('');

  // A rerun is a no-op.
  const again = await cli(['migrate', '--from', 'metastore', '--to', store], {
    ...storeEnv(),
    AIRLOCK_HOME: source.home,
  });
  expect(again.stdout).toContain(`variables: 0 created, 0 updated, ${VARIABLES} unchanged`);
  expect(again.stdout).toContain(`connections: 0 created, 0 updated, ${CONNECTIONS} unchanged`);

  // Back into a fresh metastore: the same Variables and Connections, value by value.
  const back = tempDir('airlock-migrate-back-');
  const home = await cli(['migrate', '--from', store, '--to', 'metastore'], {
    ...storeEnv(),
    AIRLOCK_HOME: back,
  });
  expect(home.stdout).toContain(`variables: ${VARIABLES} created`);
  expect(home.stdout).toContain(`connections: ${CONNECTIONS} created`);
  const [original, copy] = await Promise.all([exported(source.home), exported(back)]);
  expect(copy.vars).toEqual(original.vars);
  expect(copy.conns).toEqual(original.conns);

  // A dry run after a change: names and actions, no value.
  await cli(['variables', 'set', varKey(42), 'changed-not-printed'], { AIRLOCK_HOME: back });
  const dry = await cli(
    ['migrate', '--from', 'metastore', '--to', store, '--dry-run', '--only', 'var-0004?'],
    { ...storeEnv(), AIRLOCK_HOME: back },
  );
  expect(dry.stdout.split('\n').slice(0, 10)).toEqual([
    ...[40, 41].map((i) => `would leave unchanged variable \`${varKey(i)}\``),
    'would skip (exists, differs; --overwrite replaces it) variable `var-00042`',
    ...[43, 44, 45, 46, 47, 48, 49].map((i) => `would leave unchanged variable \`${varKey(i)}\``),
  ]);
  expect(dry.stdout).toContain('(dry run) variables: 0 created, 0 updated, 9 unchanged, 1 skipped');
  expect(dry.stdout).not.toContain(MARK);
  expect(dry.stdout).not.toContain('changed-not-printed');
}

describe('airlock migrate: vault', () => {
  let vault: VaultFake;
  beforeAll(async () => {
    vault = await startVaultFake({ rootToken: 'root' });
  });
  afterAll(() => vault?.close());

  it('moves 10,000 Variables and 1,000 Connections to Vault and back, then reruns as a no-op', async () => {
    await roundTrip('vault', () => vaultEnv({ url: vault.url, token: 'root' }), FULL_SIZE);
  }, 600_000);
});

describe('airlock migrate: the environment and export files as sources', () => {
  let vault: VaultFake;
  beforeAll(async () => {
    vault = await startVaultFake({ rootToken: 'root' });
  });
  afterAll(() => vault?.close());

  it('moves AIRFLOW_VAR_* and an export file, names a key the store refuses, and exits 1', async () => {
    const env = {
      ...vaultEnv({ url: vault.url, token: 'root' }),
      AIRLOCK_HOME: tempDir('airlock-migrate-env-'),
    };
    const fromEnv = await cli(
      ['migrate', '--from', 'env', '--to', 'vault', '--kinds', 'variables'],
      {
        ...env,
        AIRFLOW_VAR_FROM_ENV: `${MARK}env`,
      },
    );
    expect(fromEnv.stdout).toBe(
      'variables: 1 created, 0 updated, 0 unchanged, 0 skipped, 0 failed (env → vault)\n',
    );

    const dir = tempDir('airlock-migrate-file-');
    writeFileSync(
      join(dir, 'vars.json'),
      JSON.stringify({ from_file: `${MARK}file`, 'bad\\key': `${MARK}bad` }),
    );
    const r = await runAirlock(
      [
        'migrate',
        '--from',
        `file:${join(dir, 'vars.json')}`,
        '--to',
        'vault',
        '--kinds',
        'variables',
      ],
      { env },
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('variables: 1 created, 0 updated, 0 unchanged, 0 skipped, 1 failed');
    expect(r.stderr).toMatch(
      /^airlock: variable `bad\\key` failed: AIRLOCK_ERR_BACKEND_NAME_INVALID: /,
    );
    expect(`${r.stdout}${r.stderr}`).not.toContain(MARK);
    for (const [key, value] of [
      ['from_env', `${MARK}env`],
      ['from_file', `${MARK}file`],
    ]) {
      const got = await cli(['variables', 'get', key as string], env);
      expect(got.stdout).toBe(`${value}\n`);
    }
  });
});

describe('airlock migrate: Google Secret Manager', () => {
  let fake: GcpSecretManagerFake;
  beforeAll(async () => {
    fake = await startGcpSecretManagerFake({ projectId: 'migrate' });
  });
  afterAll(() => fake?.close());

  it('moves them to Secret Manager and back', async () => {
    await roundTrip('gcp-secret-manager', () => gcpEnv(fake.url, 'migrate'));
  }, 600_000);
});

describe('airlock migrate: Azure Key Vault', () => {
  let fake: AzureKeyVaultFake;
  let caFile: string;
  beforeAll(async () => {
    fake = await startAzureKeyVaultFake({ acceptedTokens: [AZURE_TEST_TOKEN] });
    caFile = join(tempDir('airlock-migrate-azure-'), 'ca.pem');
    writeFileSync(caFile, fake.caCertificate);
  });
  afterAll(() => fake?.close());

  it('moves them to Key Vault and back', async () => {
    await roundTrip('azure-key-vault', () => azureEnv(fake.url, caFile));
  }, 600_000);
});

describe('airlock migrate: AWS (moto)', () => {
  const moto = useMoto();
  const home = tempDir('airlock-migrate-aws-');

  it('moves them to SSM Parameter Store and back', async () => {
    await roundTrip('aws-ssm', () => awsEnv('ssm', moto.server().url, home));
  }, 600_000);

  it('moves them to Secrets Manager and back', async () => {
    await roundTrip('aws-secrets-manager', () =>
      awsEnv('secrets-manager', moto.server().url, home),
    );
  }, 600_000);
});
