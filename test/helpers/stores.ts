/**
 * The environment that configures each store's backend as the Airflow docs do (class path and
 * kwargs), pointed at a test double or moto: shared by the tests that drive a store through the
 * built CLI.
 */
import { awsCliEnv } from './moto.ts';

/** Google Secret Manager at the double `url`, reading from `project` with the test credentials. */
export function gcpEnv(url: string, project: string): Record<string, string> {
  return {
    AIRFLOW__SECRETS__BACKEND:
      'airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend',
    AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({ project_id: project, endpoint_url: url }),
    AIRLOCK_TEST_CREDENTIALS: '1',
  };
}

/** Azure Key Vault at the double `url` with the docs' prefixes, trusting the CA in `caFile`. */
export function azureEnv(url: string, caFile: string): Record<string, string> {
  return {
    AIRFLOW__SECRETS__BACKEND:
      'airflow.providers.microsoft.azure.secrets.key_vault.AzureKeyVaultBackend',
    AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({
      connections_prefix: 'airflow-connections',
      variables_prefix: 'airflow-variables',
      vault_url: url,
    }),
    AIRLOCK_TEST_CREDENTIALS: '1',
    NODE_EXTRA_CA_CERTS: caFile,
  };
}

/** An AWS backend (`ssm` or `secrets-manager`) at moto's `url`, with the test credentials. */
export function awsEnv(
  service: 'ssm' | 'secrets-manager',
  url: string,
  home: string,
): Record<string, string> {
  return awsCliEnv(home, {
    AIRFLOW__SECRETS__BACKEND:
      service === 'ssm'
        ? 'airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend'
        : 'airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend',
    AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({ endpoint_url: url }),
  });
}
