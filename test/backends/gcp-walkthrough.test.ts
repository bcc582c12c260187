/**
 * The Airflow docs' Google Cloud Secret Manager walkthrough, run against the fake through the
 * built CLI: configure the backend with Airflow's class path and kwargs, create the secret with
 * `gcloud secrets create` (Google's own CLI, over the fake's REST API), read it with
 * `airlock variables get` (the official SDK, over gRPC).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GcpSecretManagerFake,
  startGcpSecretManagerFake,
} from '../../src/testing/fakes/gcp-secret-manager-fake.ts';
import { BIN, cleanEnv, NODE, ROOT, runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { runTool, type ToolResult } from '../helpers/tools.ts';

const CLASS_PATH =
  'airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend';
const PROJECT = 'walkthrough-project';

/** `gcloud …` with its own throw-away configuration, pointed at `url` as docs/testing.md says. */
async function gcloudFor(
  url: string,
  project = PROJECT,
): Promise<(args: string[], input?: string) => Promise<ToolResult>> {
  const env = {
    CLOUDSDK_CONFIG: tempDir('airlock-gcloud-'),
    CLOUDSDK_AUTH_ACCESS_TOKEN: 'walkthrough-token',
    CLOUDSDK_CORE_PROJECT: project,
    CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
    CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: '1',
  };
  const gcloud = async (args: string[], input?: string) => {
    const r = await runTool(
      'gcloud',
      args,
      { env, ...(input === undefined ? {} : { input }) },
      'install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install); the Google walkthrough writes with it',
    );
    if (r.code !== 0) throw new Error(`gcloud ${args.join(' ')} failed:\n${r.stderr}`);
    return r;
  };
  await gcloud(['config', 'set', 'api_endpoint_overrides/secretmanager', `${url}/`]);
  return gcloud;
}

function envFor(endpoint: string, project = PROJECT): Record<string, string> {
  return {
    AIRFLOW__SECRETS__BACKEND: CLASS_PATH,
    AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({
      connections_prefix: 'airflow-connections',
      variables_prefix: 'airflow-variables',
      project_id: project,
      endpoint_url: endpoint,
    }),
    AIRLOCK_TEST_CREDENTIALS: '1',
  };
}

describe('gcp-secret-manager walkthrough', () => {
  let fake: GcpSecretManagerFake;
  let gcloud: Awaited<ReturnType<typeof gcloudFor>>;

  beforeAll(async () => {
    fake = await startGcpSecretManagerFake();
    gcloud = await gcloudFor(fake.url);
  });
  afterAll(async () => {
    await fake?.close();
  });

  /** The docs' step 1: `gcloud secrets create <id> --data-file=-` with the value on stdin. */
  async function create(secretId: string, value: string): Promise<void> {
    await gcloud(
      ['secrets', 'create', secretId, '--replication-policy=automatic', '--data-file=-'],
      value,
    );
  }

  it('serves a Variable created with gcloud, with source gcp-secret-manager', async () => {
    await create('airflow-variables-first_variable', 'value from Secret Manager');
    expect(fake.calls.map((c) => `${c.transport} ${c.method}`)).toEqual([
      'rest CreateSecret',
      'rest AddSecretVersion',
    ]);
    expect(fake.calls[0]?.apiClient).toContain('gcloud/');
    const r = await runAirlock(['variables', 'get', 'first_variable', '-o', 'json'], {
      env: envFor(fake.url),
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      key: 'first_variable',
      value: 'value from Secret Manager',
      source: 'gcp-secret-manager',
    });
  });

  it('serves the latest version of a Connection, after `gcloud secrets versions add`', async () => {
    await create('airflow-connections-first_connection', 'mysql://old@db.example.com/schema');
    await gcloud(
      ['secrets', 'versions', 'add', 'airflow-connections-first_connection', '--data-file=-'],
      'mysql://user:p%40ss@db.example.com:3306/schema',
    );
    const r = await runAirlock(['connections', 'get', 'first_connection', '-o', 'json'], {
      env: envFor(fake.url),
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      conn_id: 'first_connection',
      conn_type: 'mysql',
      host: 'db.example.com',
      port: 3306,
      source: 'gcp-secret-manager',
    });
  });

  it('falls through to the environment when the secret does not exist', async () => {
    const r = await runAirlock(['variables', 'get', 'only_in_env', '-o', 'json'], {
      env: { ...envFor(fake.url), AIRFLOW_VAR_ONLY_IN_ENV: 'from env' },
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ value: 'from env', source: 'env' });
  });

  it('fails closed with AIRLOCK_ERR_BACKEND_AUTH on PERMISSION_DENIED', async () => {
    await create('airflow-variables-denied', 'denied-value-abc');
    fake.failNext('PERMISSION_DENIED', 1, 'AccessSecretVersion');
    const r = await runAirlock(['variables', 'get', 'denied'], {
      env: { ...envFor(fake.url), AIRFLOW_VAR_DENIED: 'stale copy' },
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^airlock: error AIRLOCK_ERR_BACKEND_AUTH: gcp-secret-manager/);
    expect(r.stderr).not.toContain('denied-value-abc');
  });

  it('fails without credentials in one line, with no stray MetadataLookupWarning after it', async () => {
    // A metadata server that answers 403: google-auth-library then emits a MetadataLookupWarning,
    // which Node would print after airlock's error line.
    const metadata = createServer((_req, res) => {
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end('Forbidden');
    });
    await new Promise<void>((resolve) => metadata.listen(0, '127.0.0.1', resolve));
    const { port } = metadata.address() as AddressInfo;
    try {
      const home = tempDir('airlock-gcp-nocreds-');
      const r = await runAirlock(['variables', 'get', 'first_variable'], {
        env: {
          AIRFLOW__SECRETS__BACKEND: CLASS_PATH,
          AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({ project_id: PROJECT }),
          HOME: home,
          CLOUDSDK_CONFIG: join(home, 'gcloud'),
          GCE_METADATA_HOST: `127.0.0.1:${port}`,
        },
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /^airlock: error AIRLOCK_ERR_BACKEND_AUTH: gcp-secret-manager: could not read variable `first_variable`: no usable Google credentials \(\w+\); the metadata server lookup failed \([^)]+\); see docs\/backends\/gcp-secret-manager\.md#authentication\n$/,
      );
      expect(r.stderr).not.toContain('MetadataLookupWarning');
    } finally {
      metadata.close();
    }
  });

  it('refuses test credentials for an endpoint that is not loopback', async () => {
    const r = await runAirlock(['variables', 'get', 'first_variable'], {
      env: envFor('https://secretmanager.googleapis.com'),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^airlock: error AIRLOCK_ERR_CONFIG_INVALID: .*AIRLOCK_TEST_CREDENTIALS/,
    );
  });
});

describe('airlock fake gcp-secret-manager', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  });

  /** Starts the CLI fake and resolves with its URL once it prints `listening on`. */
  function startCliFake(
    args: string[],
  ): Promise<{ child: ChildProcess; url: string; output: () => string }> {
    const child = spawn(NODE, [BIN, 'fake', 'gcp-secret-manager', ...args], {
      cwd: ROOT,
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    return new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => reject(new Error(`fake did not start: ${out}${err}`)), 15_000);
      child.stderr?.setEncoding('utf8').on('data', (d: string) => {
        err += d;
      });
      child.stdout?.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const m = /^listening on (\S+)$/m.exec(out);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve({ child, url: m[1], output: () => out });
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`fake exited with ${code}: ${out}${err}`));
      });
    });
  }

  it('serves a seed file and what gcloud adds, says it is a test double, and stops on SIGTERM', async () => {
    const dir = tempDir('airlock-gcp-seed-');
    const seed = join(dir, 'seed.json');
    writeFileSync(
      seed,
      JSON.stringify({ secrets: { 'airflow-variables-seeded': 'from the seed file' } }),
    );
    const { child, url, output } = await startCliFake(['--port', '0', '--seed', seed]);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await runAirlock(['variables', 'get', 'seeded', '-o', 'json'], {
      env: envFor(url, 'airlock-fake'),
    });
    expect(JSON.parse(r.stdout)).toEqual({
      key: 'seeded',
      value: 'from the seed file',
      source: 'gcp-secret-manager',
    });
    expect(output()).toContain('test double');
    expect(output()).toContain('project airlock-fake (1 secret seeded)');
    expect(output()).toContain(`gcloud config set api_endpoint_overrides/secretmanager ${url}/`);
    // The gcloud line it prints works: a new version over REST, read back over gRPC.
    const gcloud = await gcloudFor(url, 'airlock-fake');
    await gcloud(
      ['secrets', 'versions', 'add', 'airflow-variables-seeded', '--data-file=-'],
      'added by gcloud',
    );
    const latest = await gcloud([
      'secrets',
      'versions',
      'access',
      'latest',
      '--secret',
      'airflow-variables-seeded',
    ]);
    expect(latest.stdout).toBe('added by gcloud');
    const again = await runAirlock(['variables', 'get', 'seeded'], {
      env: envFor(url, 'airlock-fake'),
    });
    expect(again).toMatchObject({ code: 0, stdout: 'added by gcloud\n' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('refuses a seed file with an invalid secret id, without printing values', async () => {
    const dir = tempDir('airlock-gcp-seed-');
    const seed = join(dir, 'bad.json');
    writeFileSync(seed, JSON.stringify({ secrets: { 'bad.name': 'seed-secret-value' } }));
    const r = await runAirlock(['fake', 'gcp-secret-manager', '--seed', seed]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/AIRLOCK_ERR_CLI_USAGE: .*`bad\.name` is not a valid secret id/);
    expect(r.stderr).not.toContain('seed-secret-value');
  });
});
