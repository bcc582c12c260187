/**
 * @module backends/names
 * The external backends' names, Airflow class paths and module loaders, without loading any
 * backend module (nor zod): a command the environment serves needs only this.
 *
 * Backend modules are loaded on demand ({@link loadBackend}) and then remembered, so that code
 * that must stay synchronous (building the chain) can take them with {@link loadedBackend}.
 * Importing `registry.ts` loads (and registers) them all at once, for synchronous callers of
 * `loadConfig`.
 */
import type { z } from 'zod';
import { AirlockError } from '../errors.ts';
import {
  EXTERNAL_BACKEND_NAMES,
  type ExternalBackendName,
  type SecretsBackend,
} from './backend.ts';

/** What the registry knows of one external backend. */
export interface BackendEntry {
  /** The kwargs schema (Airflow's snake_case names). */
  readonly optionsSchema: z.ZodType<Record<string, unknown>>;
  /** Creates the backend from parsed kwargs. */
  readonly create: (options: Record<string, unknown>, deps?: BackendDeps) => SecretsBackend;
}

/** Injectable dependencies every factory accepts (tests pass fakes here). */
export interface BackendDeps {
  /** The environment (for `$VAULT_TOKEN`, `$AWS_REGION`, …). @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** A `fetch` implementation for HTTP backends. @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** Airflow's class paths (`AIRFLOW__SECRETS__BACKEND`) for each external backend. */
export const AIRFLOW_CLASS_PATHS: Readonly<Record<string, ExternalBackendName>> = Object.freeze({
  'airflow.providers.hashicorp.secrets.vault.VaultBackend': 'vault',
  'airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend':
    'aws-secrets-manager',
  'airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend':
    'aws-ssm',
  'airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend':
    'gcp-secret-manager',
  'airflow.providers.microsoft.azure.secrets.key_vault.AzureKeyVaultBackend': 'azure-key-vault',
  'airflow.secrets.local_filesystem.LocalFilesystemBackend': 'local-file',
  // Airflow 1.10 `contrib` paths, still found in old deployments' settings.
  'airflow.contrib.secrets.hashicorp_vault.VaultBackend': 'vault',
  'airflow.contrib.secrets.aws_secrets_manager.SecretsManagerBackend': 'aws-secrets-manager',
  'airflow.contrib.secrets.aws_systems_manager.SystemsManagerParameterStoreBackend': 'aws-ssm',
  'airflow.contrib.secrets.gcp_secrets_manager.CloudSecretsManagerBackend': 'gcp-secret-manager',
});

/** Whether `name` is an external backend's short name. */
export function isExternalBackendName(name: string): name is ExternalBackendName {
  return (EXTERNAL_BACKEND_NAMES as readonly string[]).includes(name);
}

/**
 * The short name for a backend given as a short name or an Airflow class path, or `undefined`.
 *
 * @example
 * ```ts
 * resolveBackendType('airflow.providers.hashicorp.secrets.vault.VaultBackend'); // 'vault'
 * resolveBackendType('aws-ssm'); // 'aws-ssm'
 * ```
 */
export function resolveBackendType(value: string): ExternalBackendName | undefined {
  const trimmed = value.trim();
  if (isExternalBackendName(trimmed)) return trimmed;
  return Object.hasOwn(AIRFLOW_CLASS_PATHS, trimmed) ? AIRFLOW_CLASS_PATHS[trimmed] : undefined;
}

/** Each backend's module, loaded on first use. */
const LOADERS: Readonly<Record<ExternalBackendName, () => Promise<BackendEntry>>> = {
  vault: async () => {
    const m = await import('./vault.ts');
    return {
      optionsSchema: m.vaultOptionsSchema,
      create: m.createVaultBackend as BackendEntry['create'],
    };
  },
  'aws-secrets-manager': async () => {
    const m = await import('./aws-secrets-manager.ts');
    return {
      optionsSchema: m.awsSecretsManagerOptionsSchema,
      create: m.createAwsSecretsManagerBackend as BackendEntry['create'],
    };
  },
  'aws-ssm': async () => {
    const m = await import('./aws-ssm.ts');
    return {
      optionsSchema: m.awsSsmOptionsSchema,
      create: m.createAwsSsmBackend as BackendEntry['create'],
    };
  },
  'gcp-secret-manager': async () => {
    const m = await import('./gcp-secret-manager.ts');
    return {
      optionsSchema: m.gcpSecretManagerOptionsSchema,
      create: m.createGcpSecretManagerBackend as BackendEntry['create'],
    };
  },
  'azure-key-vault': async () => {
    const m = await import('./azure-key-vault.ts');
    return {
      optionsSchema: m.azureKeyVaultOptionsSchema,
      create: m.createAzureKeyVaultBackend as BackendEntry['create'],
    };
  },
  'local-file': async () => {
    const m = await import('./local-file.ts');
    return {
      optionsSchema: m.localFileOptionsSchema,
      create: m.createLocalFileBackend as BackendEntry['create'],
    };
  },
};

const loaded = new Map<ExternalBackendName, BackendEntry>();

/** Remembers a loaded backend module (`registry.ts` registers every one it imports). */
export function registerBackend(name: ExternalBackendName, entry: BackendEntry): void {
  loaded.set(name, entry);
}

/**
 * Loads a backend's module (its options schema and factory) on first use.
 *
 * @example
 * ```ts
 * const vault = await loadBackend('vault');
 * vault.optionsSchema.parse({ url: 'http://127.0.0.1:8200' });
 * ```
 */
export async function loadBackend(name: ExternalBackendName): Promise<BackendEntry> {
  const known = loaded.get(name);
  if (known) return known;
  const entry = await LOADERS[name]();
  loaded.set(name, entry);
  return entry;
}

/** A backend module already loaded (by {@link loadBackend} or `registry.ts`), or `undefined`. */
export function peekBackend(name: ExternalBackendName): BackendEntry | undefined {
  return loaded.get(name);
}

/**
 * A backend module already loaded; configuration loading loads every configured one first.
 *
 * @throws AirlockError `AIRLOCK_ERR_INTERNAL` when it was not loaded.
 */
export function loadedBackend(name: ExternalBackendName): BackendEntry {
  const entry = loaded.get(name);
  if (!entry) {
    throw new AirlockError(
      'AIRLOCK_ERR_INTERNAL',
      `the ${name} backend module is not loaded: load the configuration with loadConfig or loadConfigAsync first`,
    );
  }
  return entry;
}

/**
 * Whether a Variable key or conn_id would leave the path it is looked up under in a store that
 * addresses secrets by path (Vault's `variables_path` / `connections_path`): a leading `/`, a
 * backslash, or a `.` / `..` segment (also percent-encoded, as URL parsers decode `%2e`). Such a
 * name is not a valid name there: a lookup is a miss, never a read elsewhere (an HTTP client
 * normalises `a/../../b` before the request leaves, and Vault cleans paths too).
 *
 * @example
 * ```ts
 * escapesPath('team/db_password'); // false
 * escapesPath('../../other/secret'); // true
 * escapesPath('a/%2e%2e/b'); // true
 * ```
 */
export function escapesPath(id: string): boolean {
  if (id.startsWith('/') || id.includes('\\')) return true;
  return id.split('/').some((segment) => {
    const dots = segment.replace(/%2e/gi, '.');
    return dots === '.' || dots === '..';
  });
}
