/**
 * @module testing
 * Test doubles of the secrets stores airlock talks to, for people testing their pipelines or
 * their own backends without the real services. Every fake binds to 127.0.0.1 only, keeps its
 * state in memory and has fault injection (`failNext`, latency). Not for production use.
 *
 * @example
 * ```ts
 * import { startVaultFake } from 'airlock/testing';
 * const vault = await startVaultFake({ rootToken: 'root' });
 * // … point AIRFLOW__SECRETS__BACKEND_KWARGS at vault.url …
 * await vault.close();
 * ```
 */
export {
  type AzureKeyVaultFake,
  type AzureKeyVaultFakeOptions,
  startAzureKeyVaultFake,
} from './fakes/azure-key-vault-fake.ts';
export {
  type GcpSecretManagerFake,
  type GcpSecretManagerFakeOptions,
  startGcpSecretManagerFake,
} from './fakes/gcp-secret-manager-fake.ts';
export {
  startVaultFake,
  type VaultFake,
  type VaultFakeOptions,
  type VaultFakeSeed,
} from './fakes/vault-fake.ts';
