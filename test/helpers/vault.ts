/** Small pieces the Vault tests share: the docs' backend settings and the double's request log. */
import type { VaultFake } from '../../src/testing/fakes/vault-fake.ts';

/** Airflow's class path of the Vault backend. */
export const VAULT_BACKEND = 'airflow.providers.hashicorp.secrets.vault.VaultBackend';

/**
 * The environment that configures the Vault backend as the Airflow docs do: the class path and
 * the kwargs as JSON, plus `extra` variables.
 *
 * @example
 * ```ts
 * await runAirlock(['variables', 'get', 'x'], { env: vaultEnv({ url, token: 'root' }) });
 * ```
 */
export function vaultEnv(
  kwargs: Record<string, unknown>,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    AIRFLOW__SECRETS__BACKEND: VAULT_BACKEND,
    AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify(kwargs),
    ...extra,
  };
}

/** The double's request log as `METHOD path status` lines, oldest first. */
export function requestLines(vault: VaultFake): string[] {
  return vault.requests.map((r) => `${r.method} ${r.path} ${r.status}`);
}
