/**
 * @module backends/vault
 * HashiCorp Vault (KV v1/v2), with Airflow's `VaultBackend` kwargs.
 */
import { z } from 'zod';
import { nullablePrefix, optionalString } from './_options.ts';
import { notAvailableYet } from './_pending.ts';
import type { SecretsBackend } from './backend.ts';

/** The short name of this backend. */
export const BACKEND_NAME = 'vault' as const;

/** Vault auth methods Airflow's `VaultBackend` accepts. */
export const VAULT_AUTH_TYPES = [
  'approle',
  'aws_iam',
  'azure',
  'github',
  'gcp',
  'jwt',
  'kubernetes',
  'ldap',
  'radius',
  'token',
  'userpass',
] as const;

/** Airflow's `VaultBackend` kwargs, plus the hvac client kwargs Airflow passes through. */
export const vaultOptionsSchema = z.strictObject({
  /** @default 'connections' */
  connections_path: nullablePrefix('connections'),
  /** @default 'variables' */
  variables_path: nullablePrefix('variables'),
  /** @default 'config' */
  config_path: nullablePrefix('config'),
  /** Vault's address, such as `https://vault.example.com:8200`. @default $VAULT_ADDR */
  url: optionalString(),
  /** @default 'token' */
  auth_type: z.enum(VAULT_AUTH_TYPES).default('token'),
  auth_mount_point: optionalString(),
  /** @default 'secret' */
  mount_point: z.string().nullable().default('secret'),
  /** @default 2 */
  kv_engine_version: z.union([z.literal(1), z.literal(2)]).default(2),
  token: optionalString(),
  token_path: optionalString(),
  username: optionalString(),
  password: optionalString(),
  key_id: optionalString(),
  secret_id: optionalString(),
  role_id: optionalString(),
  assume_role_kwargs: z.record(z.string(), z.unknown()).nullable().optional(),
  region: optionalString(),
  kubernetes_role: optionalString(),
  /** @default '/var/run/secrets/kubernetes.io/serviceaccount/token' */
  kubernetes_jwt_path: z.string().default('/var/run/secrets/kubernetes.io/serviceaccount/token'),
  gcp_key_path: optionalString(),
  gcp_keyfile_dict: z.record(z.string(), z.unknown()).nullable().optional(),
  gcp_scopes: optionalString(),
  azure_tenant_id: optionalString(),
  azure_resource: optionalString(),
  radius_host: optionalString(),
  radius_secret: optionalString(),
  radius_port: z.number().int().nullable().optional(),
  jwt_role: optionalString(),
  jwt_token: optionalString(),
  jwt_token_path: optionalString(),
  use_team_secrets_path: z.boolean().optional(),
  global_secrets_path: optionalString(),
  // hvac.Client kwargs that Airflow passes through.
  namespace: optionalString(),
  /** TLS verification: `true`, `false`, or the path of a CA bundle. @default true */
  verify: z.union([z.boolean(), z.string()]).optional(),
  /** Request timeout in seconds, as hvac takes it. @default 30 */
  timeout: z.number().positive().optional(),
  cert: z
    .union([z.string(), z.tuple([z.string(), z.string()])])
    .nullable()
    .optional(),
  proxies: z.record(z.string(), z.string()).nullable().optional(),
});

/** Options of {@link createVaultBackend}. */
export type VaultBackendOptions = z.input<typeof vaultOptionsSchema>;

/**
 * Creates the Vault backend.
 *
 * @example
 * ```ts
 * const vault = createVaultBackend({ url: 'http://127.0.0.1:8200', token: 'root' });
 * ```
 */
export function createVaultBackend(_options: VaultBackendOptions): SecretsBackend {
  throw notAvailableYet(BACKEND_NAME);
}
