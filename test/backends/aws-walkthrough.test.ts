/**
 * The AWS pages' walkthroughs, as a user runs them: Airflow's class path and kwargs in the
 * environment, a secret created with the AWS CLI (`aws secretsmanager create-secret`,
 * `aws ssm put-parameter`: a client we did not write) against moto, then `npx airlock …` (the
 * built CLI).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runAirlock } from '../helpers/cli.ts';
import { useMoto } from '../helpers/moto.ts';
import { tempDir } from '../helpers/tmp.ts';
import { runTool } from '../helpers/tools.ts';

const moto = useMoto();
const home = tempDir('airlock-aws-walkthrough-');

/** The test credentials a user exports for a local emulator, and an empty HOME. */
function awsEnv(extra: Record<string, string>): Record<string, string> {
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

/** `aws --endpoint-url <moto> <args…>` with the test credentials; throws with its stderr. */
async function aws(args: string[]): Promise<unknown> {
  const r = await runTool(
    'aws',
    ['--endpoint-url', moto.server().url, '--output', 'json', ...args],
    // AWS CLI v1 reads AWS_DEFAULT_REGION, not AWS_REGION.
    { env: awsEnv({ AWS_DEFAULT_REGION: 'us-east-1' }) },
    'install the AWS CLI (`python3 -m pip install awscli`, Python 3.11); the AWS walkthroughs write with it',
  );
  if (r.code !== 0) throw new Error(`aws ${args.slice(0, 2).join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** `aws secretsmanager create-secret --name <name> --secret-string <value>`. */
async function createSecret(name: string, value: string): Promise<void> {
  const out = await aws([
    'secretsmanager',
    'create-secret',
    '--name',
    name,
    '--secret-string',
    value,
  ]);
  expect(out).toMatchObject({ Name: name, ARN: expect.stringMatching(/^arn:aws:secretsmanager:/) });
}

/** `aws ssm put-parameter --name <name> --value <value> --type SecureString`. */
async function putSecureString(name: string, value: string): Promise<void> {
  const out = await aws([
    'ssm',
    'put-parameter',
    '--name',
    name,
    '--value',
    value,
    '--type',
    'SecureString',
  ]);
  expect(out).toMatchObject({ Version: 1 });
}

describe('AWS Secrets Manager walkthrough', () => {
  const backendEnv = () => ({
    AIRFLOW__SECRETS__BACKEND:
      'airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend',
    AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({
      connections_prefix: 'airflow/connections',
      variables_prefix: 'airflow/variables',
      endpoint_url: moto.server().url,
    }),
  });

  it('serves airflow/variables/<key> with source aws-secrets-manager', async () => {
    await createSecret('airflow/variables/greeting', 'hello from Secrets Manager');
    const json = await runAirlock(['variables', 'get', 'greeting', '--output', 'json'], {
      env: awsEnv(backendEnv()),
    });
    expect(json.stderr).toBe('');
    expect(JSON.parse(json.stdout)).toEqual({
      key: 'greeting',
      value: 'hello from Secrets Manager',
      source: 'aws-secrets-manager',
    });
    const plain = await runAirlock(['variables', 'get', 'greeting'], {
      env: awsEnv(backendEnv()),
    });
    expect(plain).toMatchObject({ code: 0, stdout: 'hello from Secrets Manager\n' });
  });

  it('serves a JSON connection secret with aliased keys', async () => {
    await createSecret(
      'airflow/connections/warehouse',
      JSON.stringify({
        engine: 'postgres',
        username: 'analyst',
        password: 's3cr@t',
        host: 'db.example.com',
        port: 5432,
        dbname_ignored: 'x',
        database: 'analytics',
      }),
    );
    const r = await runAirlock(['connections', 'get', 'warehouse', '--output', 'json'], {
      env: awsEnv(backendEnv()),
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({
      conn_id: 'warehouse',
      conn_type: 'postgres',
      login: 'analyst',
      password: 's3cr@t',
      host: 'db.example.com',
      port: 5432,
      schema: 'analytics',
      source: 'aws-secrets-manager',
    });
  });

  it('falls through to the environment on a miss, showing where it looked', async () => {
    const r = await runAirlock(
      ['secrets', 'which', 'variable', 'only_in_env', '--output', 'json'],
      {
        env: awsEnv({ ...backendEnv(), AIRFLOW_VAR_ONLY_IN_ENV: 'env value' }),
      },
    );
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.source).toBe('env');
    expect(report.trace[0]).toMatchObject({
      backend: 'aws-secrets-manager',
      outcome: 'miss',
      location: 'airflow/variables/only_in_env',
    });
  });

  it('signs with the keys in session_kwargs, as Airflow reads them, and redacts them', async () => {
    await createSecret('airflow/variables/via_session', 'signed with session_kwargs');
    const env = awsEnv({
      ...backendEnv(),
      AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({
        variables_prefix: 'airflow/variables',
        endpoint_url: moto.server().url,
        session_kwargs: {
          aws_access_key_id: 'AKIDSESSIONKWARGS',
          aws_secret_access_key: 'session-kwargs-secret-123',
        },
      }),
    });
    // No keys in the environment: without session_kwargs there would be no credentials at all.
    delete env.AWS_ACCESS_KEY_ID;
    delete env.AWS_SECRET_ACCESS_KEY;
    const r = await runAirlock(['variables', 'get', 'via_session'], { env });
    expect(r).toMatchObject({ code: 0, stdout: 'signed with session_kwargs\n', stderr: '' });
    const shown = await runAirlock(['config', 'show', '--output', 'json'], { env });
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout).secrets.backends[0].kwargs.session_kwargs).toEqual({
      aws_access_key_id: '***',
      aws_secret_access_key: '***',
    });
    expect(shown.stdout).not.toContain('session-kwargs-secret-123');
    const refused = await runAirlock(['variables', 'get', 'via_session'], {
      env: {
        ...env,
        AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({
          endpoint_url: moto.server().url,
          session_kwargs: { region_name: 'eu-west-1' },
        }),
      },
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/AIRLOCK_ERR_CONFIG_INVALID: .*session_kwargs.*region_name/);
  });

  describe('with role_arn', () => {
    const roleEnv = (extra: Record<string, unknown>) =>
      awsEnv({
        ...backendEnv(),
        AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({
          connections_prefix: 'airflow/connections',
          variables_prefix: 'airflow/variables',
          endpoint_url: moto.server().url,
          role_arn: 'arn:aws:iam::123456789012:role/airflow-reader',
          ...extra,
        }),
      });

    it('assumes the role through the STS that service_config.sts.endpoint_url names', async () => {
      await createSecret('airflow/variables/assumed', 'read with an assumed role');
      const r = await runAirlock(['variables', 'get', 'assumed'], {
        env: roleEnv({ service_config: { sts: { endpoint_url: moto.server().url } } }),
      });
      expect(r).toMatchObject({ code: 0, stdout: 'read with an assumed role\n', stderr: '' });
    });

    it('federates a Google ID token (assume_role_with_web_identity_federation "google")', async () => {
      // Google's metadata server, as google-auth-library finds it through GCE_METADATA_HOST: it
      // hands out the ID token that STS AssumeRoleWithWebIdentity takes.
      const audiences: string[] = [];
      const metadata = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://metadata');
        const headers = { 'Metadata-Flavor': 'Google', 'content-type': 'text/plain' };
        if (req.headers['metadata-flavor'] !== 'Google') {
          res.writeHead(403, headers).end('Missing Metadata-Flavor header');
          return;
        }
        if (url.pathname.endsWith('/service-accounts/default/identity')) {
          const audience = url.searchParams.get('audience') ?? '';
          audiences.push(audience);
          const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
          const now = Math.floor(Date.now() / 1000);
          const jwt = `${part({ alg: 'RS256', typ: 'JWT' })}.${part({ iss: 'https://accounts.google.com', aud: audience, sub: '1234567890', iat: now, exp: now + 3600 })}.c2ln`;
          res.writeHead(200, headers).end(jwt);
          return;
        }
        res.writeHead(200, headers).end('');
      });
      await new Promise<void>((resolve) => metadata.listen(0, '127.0.0.1', resolve));
      try {
        await createSecret('airflow/variables/federated', 'read with a Google-federated role');
        const home = tempDir('airlock-aws-federation-');
        const env = roleEnv({
          assume_role_method: 'assume_role_with_web_identity',
          assume_role_with_web_identity_federation: 'google',
          assume_role_with_web_identity_federation_audience: 'sts.amazonaws.com/airlock',
          service_config: { sts: { endpoint_url: moto.server().url } },
        });
        // No AWS keys: the role is assumed with the Google token alone.
        delete env.AWS_ACCESS_KEY_ID;
        delete env.AWS_SECRET_ACCESS_KEY;
        const r = await runAirlock(['variables', 'get', 'federated'], {
          env: {
            ...env,
            HOME: home,
            CLOUDSDK_CONFIG: join(home, 'gcloud'),
            GCE_METADATA_HOST: `127.0.0.1:${(metadata.address() as AddressInfo).port}`,
          },
        });
        expect(r).toMatchObject({
          code: 0,
          stdout: 'read with a Google-federated role\n',
          stderr: '',
        });
        expect(audiences).toEqual(['sts.amazonaws.com/airlock']);
      } finally {
        metadata.close();
      }
    });

    it('refuses Google federation without an audience, naming the kwarg', async () => {
      const r = await runAirlock(['variables', 'get', 'federated'], {
        env: roleEnv({
          assume_role_method: 'assume_role_with_web_identity',
          assume_role_with_web_identity_federation: 'google',
        }),
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /AIRLOCK_ERR_CONFIG_INVALID: .*assume_role_with_web_identity_federation_audience: is required with assume_role_with_web_identity_federation "google"/,
      );
    });

    it('names the STS endpoint and the kwarg that sets it when STS cannot be reached', async () => {
      // endpoint_url points at moto, but Airflow never uses it for STS: the default STS is asked.
      const r = await runAirlock(['variables', 'get', 'assumed'], { env: roleEnv({}) });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /^airlock: error AIRLOCK_ERR_BACKEND_(UNAVAILABLE|AUTH): aws-secrets-manager: could not assume role_arn arn:aws:iam::123456789012:role\/airflow-reader through STS at https:\/\/sts\.us-east-1\.amazonaws\.com \([^)]+\); .*set service_config \{"sts": \{"endpoint_url": "…"\}\} \(endpoint_url does not apply to STS when assuming a role, as in Airflow\)\n$/,
      );
      const closed = 'http://127.0.0.1:9';
      const refused = await runAirlock(['variables', 'get', 'assumed'], {
        env: roleEnv({ service_config: { sts: { endpoint_url: closed } } }),
      });
      expect(refused.stderr).toBe(
        `airlock: error AIRLOCK_ERR_BACKEND_UNAVAILABLE: aws-secrets-manager: could not assume role_arn arn:aws:iam::123456789012:role/airflow-reader through STS at ${closed} (ECONNREFUSED); check service_config {"sts": {"endpoint_url": …}}\n`,
      );
    });
  });

  it('fails with a configuration error naming region_name when no region is set', async () => {
    const env = awsEnv(backendEnv());
    delete env.AWS_REGION;
    const r = await runAirlock(['variables', 'get', 'greeting'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^airlock: error AIRLOCK_ERR_CONFIG_INVALID: .*region_name/);
  });
});

describe('AWS Parameter Store walkthrough', () => {
  const backendEnv = () => ({
    AIRFLOW__SECRETS__BACKEND:
      'airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend',
    AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({
      connections_prefix: '/airflow/connections',
      variables_prefix: '/airflow/variables',
      endpoint_url: moto.server().url,
    }),
  });

  it('serves /airflow/variables/<key> with source aws-ssm', async () => {
    await putSecureString('/airflow/variables/greeting', 'hello from Parameter Store');
    const r = await runAirlock(['variables', 'get', 'greeting', '--output', 'json'], {
      env: awsEnv(backendEnv()),
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      key: 'greeting',
      value: 'hello from Parameter Store',
      source: 'aws-ssm',
    });
  });

  it('serves a URI connection parameter', async () => {
    await putSecureString('/airflow/connections/cache', 'redis://:p%40ss@cache.example.com:6379/0');
    const r = await runAirlock(['connections', 'get', 'cache', '--output', 'json'], {
      env: awsEnv(backendEnv()),
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({
      conn_type: 'redis',
      password: 'p@ss',
      host: 'cache.example.com',
      port: 6379,
      schema: '0',
      source: 'aws-ssm',
    });
  });
});
