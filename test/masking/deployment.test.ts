import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registerEnvironmentSecrets } from '../../src/masking/deployment.ts';
import { MASK, SecretsMasker } from '../../src/masking/masker.ts';
import { childEnvironment, isAirlockCredentialName } from '../../src/pipelines/supervisor.ts';
import { tempDir } from '../helpers/tmp.ts';

describe("the deployment's own secrets", () => {
  const home = tempDir('airlock-deployment-secrets-');
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, 'fernet.key'), 'file-fernet-key-value-0001\n');
  const env = {
    AIRLOCK_HOME: home,
    AIRFLOW__SECRETS__BACKEND: 'airflow.providers.hashicorp.secrets.vault.VaultBackend',
    AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({
      url: 'http://vault.example.com:8200',
      token: 'kwargs-vault-token-1',
      auth: { secret_id: 'kwargs-secret-id-2', role_id: 'visible-role-id' },
    }),
    AIRLOCK__SECRETS__BACKENDS: JSON.stringify([
      {
        type: 'azure-key-vault',
        kwargs: { vault_url: 'https://v', client_secret: 'list-client-secret-3' },
      },
    ]),
    AIRLOCK__CORE__FERNET_KEY: 'fernet-key-new-0004,fernet-key-old-0005',
    AIRLOCK__DATABASE__URL: 'postgresql://app:db%2Fpass-0006@db:5432/airlock',
    AIRLOCK__SECRETS__SHARED_CACHE_URL: 'redis://:redis-pass-0007@cache:6379/0',
    AIRLOCK_ADMIN_PASSWORD: 'admin-password-0008',
    AIRFLOW_VAR_API_TOKEN: 'env-var-token-0009',
    AIRFLOW_VAR_REGION: 'eu-west-visible',
    AIRFLOW_CONN_WAREHOUSE: 'postgres://analyst:conn-pass-0010@db.example.com/x',
    AWS_SECRET_ACCESS_KEY: 'aws-secret-key-0011',
    FEATURE_TOKEN_ENABLED: 'false',
  };

  it('registers every credential, nested kwargs fields by name, and leaves the rest visible', () => {
    const masker = new SecretsMasker();
    registerEnvironmentSecrets(masker, env);
    const hidden = [
      'kwargs-vault-token-1',
      'kwargs-secret-id-2',
      'list-client-secret-3',
      'fernet-key-new-0004',
      'fernet-key-old-0005',
      'file-fernet-key-value-0001',
      'db/pass-0006',
      'db%2Fpass-0006',
      'redis-pass-0007',
      'admin-password-0008',
      'env-var-token-0009',
      'conn-pass-0010',
      'aws-secret-key-0011',
    ];
    for (const value of hidden) expect(masker.redact(`[${value}]`), value).toBe(`[${MASK}]`);
    for (const value of [
      'visible-role-id',
      'eu-west-visible',
      'http://vault.example.com:8200',
      'false',
    ]) {
      expect(masker.redact(value)).toBe(value);
    }
  });

  it("gives a child none of airlock's credentials, and keeps the user's variables", () => {
    const child = childEnvironment({
      ...env,
      AIRLOCK__CORE__FERNET_KEY_CMD: 'cat key',
      PATH: '/bin',
    });
    expect(Object.keys(child).sort()).toEqual([
      'AIRFLOW_CONN_WAREHOUSE',
      'AIRFLOW_VAR_API_TOKEN',
      'AIRFLOW_VAR_REGION',
      'AIRLOCK_HOME',
      'AWS_SECRET_ACCESS_KEY',
      'FEATURE_TOKEN_ENABLED',
      'PATH',
    ]);
    for (const name of [
      'AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_SECRET',
      'AIRFLOW__CORE__SQL_ALCHEMY_CONN_CMD',
    ])
      expect(isAirlockCredentialName(name), name).toBe(true);
    expect(isAirlockCredentialName('AIRLOCK__CORE__SENSITIVE_VAR_CONN_NAMES')).toBe(false);
  });
});
