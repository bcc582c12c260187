/**
 * The AWS pages' walkthroughs, as a user runs them: Airflow's class path and kwargs in the
 * environment, a secret created with the SDK, then `npx airlock …` (the built CLI).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runAirlock } from '../helpers/cli.ts';
import { putParameter, putSecret, useMoto } from '../helpers/moto.ts';
import { tempDir } from '../helpers/tmp.ts';

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
    await putSecret(moto.server().url, 'airflow/variables/greeting', 'hello from Secrets Manager');
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
    await putSecret(
      moto.server().url,
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
    await putParameter(
      moto.server().url,
      '/airflow/variables/greeting',
      'hello from Parameter Store',
      'SecureString',
    );
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
    await putParameter(
      moto.server().url,
      '/airflow/connections/cache',
      'redis://:p%40ss@cache.example.com:6379/0',
      'SecureString',
    );
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
