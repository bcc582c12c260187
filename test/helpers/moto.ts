/**
 * A moto server (`moto_server`, Python) on 127.0.0.1 for the AWS backends' tests: one per test
 * file, started before its tests, reset between groups of tests, stopped after them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { findOnPath, runTool } from './tools.ts';

/** A running moto server. */
export interface MotoServer {
  /** `http://127.0.0.1:<port>`, the `endpoint_url` to give the backends. */
  readonly url: string;
  /** Forgets every resource (`POST /moto-api/reset`). */
  reset(): Promise<void>;
  /** Stops the server. */
  stop(): Promise<void>;
}

/** The fake AWS credentials and region the tests use with moto. */
export const MOTO_CREDENTIALS = {
  aws_access_key_id: 'testing',
  aws_secret_access_key: 'testing',
  region_name: 'us-east-1',
} as const;

const STARTUP_TIMEOUT_MS = 20_000;

/** A free TCP port on 127.0.0.1 (for a child server that takes its port as an argument). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/moto-api/reset`, {
      method: 'POST',
      signal: AbortSignal.timeout(1000),
    });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Starts `moto_server -H 127.0.0.1 -p <free port>` and waits until it answers.
 *
 * @throws when `moto_server` is not on PATH, or does not answer in time.
 * @example
 * ```ts
 * const moto = await startMoto();
 * createAwsSsmBackend({ endpoint_url: moto.url, ...MOTO_CREDENTIALS });
 * await moto.stop();
 * ```
 */
export async function startMoto(): Promise<MotoServer> {
  const command = findOnPath('moto_server');
  if (!command) {
    throw new Error(
      'moto_server is not on PATH: the AWS backend tests run against moto. Install it with ' +
        '`python3 -m pip install "moto[server]"` (Python 3.11) and make sure `moto_server` is on PATH.',
    );
  }
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = spawn(command, ['-H', '127.0.0.1', '-p', String(port)], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, PYTHONUNBUFFERED: '1' },
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-4000);
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let spawnError: Error | undefined;
    child.once('error', (err) => {
      spawnError = err;
    });
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    let ready = false;
    let gone = false;
    void exited.then(() => {
      gone = true;
    });
    while (!ready && !gone && !spawnError && Date.now() < deadline) {
      ready = await answers(url);
      if (!ready) await new Promise((r) => setTimeout(r, 50));
    }
    if (ready) {
      return {
        url,
        async reset() {
          const res = await fetch(`${url}/moto-api/reset`, { method: 'POST' });
          await res.arrayBuffer();
          if (!res.ok) throw new Error(`moto reset answered HTTP ${res.status}`);
        },
        stop: () => stopChild(child),
      };
    }
    await stopChild(child);
    lastError = spawnError ? String(spawnError) : stderr.trim() || 'no answer';
  }
  throw new Error(`moto_server did not start on 127.0.0.1: ${lastError}`);
}

/**
 * One moto server for the whole test file: started in `beforeAll`, stopped in `afterAll`.
 * Read `server()` inside tests and hooks, not at import.
 *
 * @example
 * ```ts
 * const moto = useMoto();
 * it('…', async () => { createAwsSsmBackend({ endpoint_url: moto.server().url, … }) });
 * ```
 */
export function useMoto(): { server(): MotoServer } {
  let server: MotoServer | undefined;
  beforeAll(async () => {
    server = await startMoto();
  });
  afterAll(async () => {
    await server?.stop();
  });
  return {
    server() {
      if (!server) throw new Error('moto is not running: call server() inside a test or hook');
      return server;
    },
  };
}

function sdkConfig(url: string) {
  return {
    endpoint: url,
    region: MOTO_CREDENTIALS.region_name,
    credentials: {
      accessKeyId: MOTO_CREDENTIALS.aws_access_key_id,
      secretAccessKey: MOTO_CREDENTIALS.aws_secret_access_key,
    },
  };
}

/**
 * Creates or updates a Secrets Manager secret on the moto server at `url`, with the SDK (as a
 * user would with `aws secretsmanager create-secret`).
 */
export async function putSecret(
  url: string,
  name: string,
  value: string | { binary: Uint8Array },
): Promise<void> {
  const sm = await import('@aws-sdk/client-secrets-manager');
  const client = new sm.SecretsManagerClient(sdkConfig(url));
  const payload =
    typeof value === 'string' ? { SecretString: value } : { SecretBinary: value.binary };
  try {
    await client.send(new sm.CreateSecretCommand({ Name: name, ...payload }));
  } catch (err) {
    if ((err as Error).name !== 'ResourceExistsException') throw err;
    await client.send(new sm.PutSecretValueCommand({ SecretId: name, ...payload }));
  } finally {
    client.destroy();
  }
}

/** Schedules a Secrets Manager secret for deletion (reads then answer `InvalidRequestException`). */
export async function deleteSecret(url: string, name: string): Promise<void> {
  const sm = await import('@aws-sdk/client-secrets-manager');
  const client = new sm.SecretsManagerClient(sdkConfig(url));
  try {
    await client.send(new sm.DeleteSecretCommand({ SecretId: name }));
  } finally {
    client.destroy();
  }
}

/** Creates or overwrites a Parameter Store parameter on the moto server at `url`. */
export async function putParameter(
  url: string,
  name: string,
  value: string,
  type: 'String' | 'StringList' | 'SecureString' = 'String',
): Promise<void> {
  const ssm = await import('@aws-sdk/client-ssm');
  const client = new ssm.SSMClient(sdkConfig(url));
  try {
    await client.send(
      new ssm.PutParameterCommand({ Name: name, Value: value, Type: type, Overwrite: true }),
    );
  } finally {
    client.destroy();
  }
}

/**
 * The test credentials a user exports for a local emulator, with `home` as an empty HOME (no
 * profile, no shared credentials, no instance metadata).
 */
export function awsCliEnv(
  home: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
    HOME: home,
    AWS_CONFIG_FILE: join(home, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}

/**
 * `aws --endpoint-url <url> --output json <args…>` (the AWS CLI: a client we did not write)
 * with the test credentials; its parsed output, or an error with its stderr.
 */
export async function awsCli(url: string, home: string, args: string[]): Promise<unknown> {
  const r = await runTool(
    'aws',
    ['--endpoint-url', url, '--output', 'json', ...args],
    // AWS CLI v1 reads AWS_DEFAULT_REGION, not AWS_REGION.
    { env: awsCliEnv(home, { AWS_DEFAULT_REGION: 'us-east-1' }) },
    'install the AWS CLI (`python3 -m pip install awscli`, Python 3.11); the AWS walkthroughs write with it',
  );
  if (r.code !== 0) throw new Error(`aws ${args.slice(0, 2).join(' ')} failed:\n${r.stderr}`);
  return r.stdout.trim() === '' ? {} : JSON.parse(r.stdout);
}
