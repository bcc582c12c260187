/**
 * @module backends/_vault-options
 * The Vault backend's name, auth methods and kwargs (Airflow's `VaultBackend` kwargs plus the
 * hvac client kwargs Airflow passes through), and the kwargs check Airflow's `_VaultClient` does.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { nullablePrefix, optionalString } from './_options.ts';

/** The short name of this backend. */
export const BACKEND_NAME = 'vault' as const;

/** Vault auth methods Airflow's `VaultBackend` accepts; airlock logs in with each. */
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
  /** Where the auth method is mounted. @default the auth type's name (`approle`, …) */
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
  /** Airflow's AppRole token file cache; airlock keeps the token in memory instead. */
  cache_approle_token: z.boolean().optional(),
  // hvac.Client kwargs that Airflow passes through.
  namespace: optionalString(),
  /** TLS verification: `true`, `false`, or the path of a CA bundle. @default $VAULT_CACERT or true */
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

/** The parsed kwargs. */
export type VaultOptions = z.output<typeof vaultOptionsSchema>;
export type LoginType = Exclude<(typeof VAULT_AUTH_TYPES)[number], 'token'>;

/** Kwargs `describe()` masks. */
export const SENSITIVE_KWARGS = [
  'token',
  'password',
  'secret_id',
  'role_id',
  'key_id',
  'jwt_token',
  'radius_secret',
  'gcp_keyfile_dict',
  'assume_role_kwargs',
] as const;

/** Checks the kwargs the way Airflow's `_VaultClient.__init__` does, reporting every problem. */
export function checkAuthKwargs(
  opts: VaultOptions,
  env: Readonly<Record<string, string | undefined>>,
): void {
  const type = opts.auth_type;
  const issues: string[] = [];
  const need = (ok: unknown, what: string) => {
    if (!ok) issues.push(`${BACKEND_NAME} kwargs: auth_type \`${type}\` needs ${what}`);
  };
  if (type === 'token')
    need(opts.token || opts.token_path || env.VAULT_TOKEN, '`token`, `token_path` or $VAULT_TOKEN');
  if (type === 'github') need(opts.token || opts.token_path, '`token` or `token_path`');
  if (type === 'approle') need(opts.role_id, '`role_id`');
  if (type === 'azure') need(opts.role_id, '`role_id` (the Vault role)');
  if (type === 'gcp') {
    need(opts.role_id, '`role_id` (the Vault role)');
    need(opts.gcp_key_path || opts.gcp_keyfile_dict, '`gcp_key_path` or `gcp_keyfile_dict`');
  }
  if (type === 'userpass' || type === 'ldap' || type === 'radius') {
    need(opts.username, '`username`');
    need(opts.password, '`password`');
  }
  if (type === 'kubernetes') {
    need(opts.kubernetes_role, '`kubernetes_role`');
    need(opts.kubernetes_jwt_path, '`kubernetes_jwt_path`');
  }
  if (type === 'jwt') {
    need(opts.jwt_role, '`jwt_role`');
    need(opts.jwt_token || opts.jwt_token_path, '`jwt_token` or `jwt_token_path`');
  }
  if (opts.proxies && Object.keys(opts.proxies).length > 0) {
    issues.push(
      `${BACKEND_NAME} kwargs.proxies: not supported by airlock; set HTTPS_PROXY with NODE_USE_ENV_PROXY=1 instead`,
    );
  }
  if (issues.length > 0) throw new ConfigError(issues);
}
