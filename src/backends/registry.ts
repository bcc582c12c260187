/**
 * @module backends/registry
 * The external backends by short name and by Airflow class path, every module loaded.
 *
 * Importing this loads every backend module (and zod) at once, for synchronous callers such as
 * `loadConfig`. The CLI uses the lazy loaders of `names.ts` instead, so that a command served by
 * the environment loads no backend module; each backend loads its cloud SDK with a dynamic
 * `import()` only when it first talks to its store.
 */
import * as awsSecretsManager from './aws-secrets-manager.ts';
import * as awsSsm from './aws-ssm.ts';
import * as azureKeyVault from './azure-key-vault.ts';
import type { ExternalBackendName } from './backend.ts';
import * as gcpSecretManager from './gcp-secret-manager.ts';
import * as localFile from './local-file.ts';
import { type BackendEntry, registerBackend } from './names.ts';
import * as vault from './vault.ts';

export {
  AIRFLOW_CLASS_PATHS,
  type BackendDeps,
  type BackendEntry,
  isExternalBackendName,
  resolveBackendType,
} from './names.ts';

/** The external backends by short name. */
export const BACKENDS: Readonly<Record<ExternalBackendName, BackendEntry>> = Object.freeze({
  vault: {
    optionsSchema: vault.vaultOptionsSchema,
    create: vault.createVaultBackend as BackendEntry['create'],
  },
  'aws-secrets-manager': {
    optionsSchema: awsSecretsManager.awsSecretsManagerOptionsSchema,
    create: awsSecretsManager.createAwsSecretsManagerBackend as BackendEntry['create'],
  },
  'aws-ssm': {
    optionsSchema: awsSsm.awsSsmOptionsSchema,
    create: awsSsm.createAwsSsmBackend as BackendEntry['create'],
  },
  'gcp-secret-manager': {
    optionsSchema: gcpSecretManager.gcpSecretManagerOptionsSchema,
    create: gcpSecretManager.createGcpSecretManagerBackend as BackendEntry['create'],
  },
  'azure-key-vault': {
    optionsSchema: azureKeyVault.azureKeyVaultOptionsSchema,
    create: azureKeyVault.createAzureKeyVaultBackend as BackendEntry['create'],
  },
  'local-file': {
    optionsSchema: localFile.localFileOptionsSchema,
    create: localFile.createLocalFileBackend as BackendEntry['create'],
  },
});

// Synchronous callers (`loadConfig`, `createChain`) find every module loaded.
for (const [name, entry] of Object.entries(BACKENDS)) {
  registerBackend(name as ExternalBackendName, entry);
}
