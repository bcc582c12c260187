/**
 * The package as a library user gets it: `npm pack`, then a fresh project that installs the
 * tarball with one store's SDK only. That store works; another store's backend fails with one
 * coded line naming the package to install; nothing of the other SDKs is installed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectOneLineError, ROOT, runAirlock } from '../helpers/cli.ts';
import { putParameter, useMoto } from '../helpers/moto.ts';
import { tempDir } from '../helpers/tmp.ts';

const moto = useMoto();

function npm(args: string[], cwd: string): string {
  const r = spawnSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    encoding: 'utf8',
    timeout: 240_000,
  });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe('a consumer install of the packed tarball', () => {
  it('installs without the cloud SDKs and serves SSM with @aws-sdk/client-ssm alone', async () => {
    const packDir = tempDir('airlock-pack-');
    // dist/ is already built by the test run's global setup: pack it as it is.
    npm(['pack', '--ignore-scripts', '--pack-destination', packDir], ROOT);
    const tarball = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
    expect(tarball).toBeDefined();

    const app = tempDir('airlock-consumer-');
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
    );
    npm(['install', join(packDir, tarball as string), '@aws-sdk/client-ssm'], app);

    const modules = join(app, 'node_modules');
    expect(existsSync(join(modules, 'airlock/dist/cli/bin.js'))).toBe(true);
    // Only the SDK asked for: the optional peers are not pulled in.
    for (const other of [
      '@aws-sdk/client-secrets-manager',
      '@google-cloud/secret-manager',
      '@azure/identity',
      '@azure/keyvault-secrets',
      '@grpc/grpc-js',
      'selfsigned',
      // SAML federation's: kerberos (a native build), the XPath parser and the STS client.
      'kerberos',
      'xpath',
      '@xmldom/xmldom',
      '@aws-sdk/client-sts',
    ]) {
      expect(existsSync(join(modules, other)), other).toBe(false);
    }
    // No source maps that point at sources the package does not ship.
    const dist = readdirSync(join(modules, 'airlock/dist'), { recursive: true }) as string[];
    expect(dist.filter((f) => f.endsWith('.map'))).toEqual([]);

    const bin = join(modules, 'airlock/dist/cli/bin.js');
    const aws = {
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: 'us-east-1',
      AWS_CONFIG_FILE: join(app, 'no-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(app, 'no-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AIRLOCK_HOME: join(app, 'home'),
    };
    await putParameter(moto.server().url, '/airflow/variables/greeting', 'hello from SSM');
    const ssm = await runAirlock(['variables', 'get', 'greeting', '--output', 'json'], {
      bin,
      cwd: app,
      env: {
        ...aws,
        AIRFLOW__SECRETS__BACKEND:
          'airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend',
        AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({ endpoint_url: moto.server().url }),
      },
    });
    expect(ssm.stderr).toBe('');
    expect(JSON.parse(ssm.stdout)).toEqual({
      key: 'greeting',
      value: 'hello from SSM',
      source: 'aws-ssm',
    });

    const missing = await runAirlock(['variables', 'get', 'greeting'], {
      bin,
      cwd: app,
      env: {
        ...aws,
        AIRFLOW__SECRETS__BACKEND:
          'airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend',
        AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({ endpoint_url: moto.server().url }),
      },
    });
    expect(missing.code).toBe(1);
    expectOneLineError(missing.stderr, 'AIRLOCK_ERR_BACKEND_SDK_MISSING');
    expect(missing.stderr).toContain('npm install @aws-sdk/client-secrets-manager');

    // The test doubles' packages are optional peers too: a missing one is named, in one line.
    const home = { AIRLOCK_HOME: join(app, 'home') };
    for (const [args, pkg] of [
      [['fake', 'vault', '--tls', '--port', '0'], 'selfsigned'],
      [['fake', 'gcp-secret-manager'], '@google-cloud/secret-manager'],
    ] as const) {
      const fake = await runAirlock([...args], { bin, cwd: app, env: home });
      expect(fake.code, args.join(' ')).toBe(1);
      expectOneLineError(fake.stderr, 'AIRLOCK_ERR_BACKEND_SDK_MISSING');
      expect(fake.stderr).toContain(`npm install ${pkg}`);
    }
  }, 300_000);
});
