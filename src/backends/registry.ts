/**
 * @module backends/registry
 * The external backends by short name, every module loaded, for synchronous callers (the
 * synchronous `loadConfig`) and the public API. Importing it loads every backend module (and
 * zod) at once; the CLI loads only the configured ones, through `names.ts`. Each backend module
 * loads its cloud SDK only when it first talks to its store.
 */
import { backendEntry as awsSecretsManager } from './aws-secrets-manager.ts';
import { backendEntry as awsSsm } from './aws-ssm.ts';
import { backendEntry as azureKeyVault } from './azure-key-vault.ts';
import type { BackendEntry, ExternalBackendName } from './backend.ts';
import { backendEntry as gcpSecretManager } from './gcp-secret-manager.ts';
import { backendEntry as localFile } from './local-file.ts';
import { backendEntry as vault } from './vault.ts';

export type { BackendDeps, BackendEntry } from './backend.ts';
export { AIRFLOW_CLASS_PATHS, isExternalBackendName, resolveBackendType } from './names.ts';

/** The external backends by short name. */
export const BACKENDS: Readonly<Record<ExternalBackendName, BackendEntry>> = Object.freeze({
  vault,
  'aws-secrets-manager': awsSecretsManager,
  'aws-ssm': awsSsm,
  'gcp-secret-manager': gcpSecretManager,
  'azure-key-vault': azureKeyVault,
  'local-file': localFile,
});
