/**
 * @module cli/commands/fake
 * `airlock fake <store>`: runs a test double of a secrets store on loopback, for trying airlock
 * (and the Airflow docs' walkthroughs) without the real service. These are clearly test doubles:
 * no persistence, no real security, loopback only.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import type { FakeRegistration } from './_fake-serve.ts';
import { registerAzureKeyVaultFake } from './fake-azure-key-vault.ts';
import { registerGcpSecretManagerFake } from './fake-gcp-secret-manager.ts';
import { registerVaultFake } from './fake-vault.ts';

const REGISTRATIONS: FakeRegistration[] = [
  registerGcpSecretManagerFake,
  registerAzureKeyVaultFake,
  registerVaultFake,
];

/** Registers `airlock fake` and every store's fake under it. */
export function registerFakeCommands(program: Command, context: CliContext): void {
  const fake = program
    .command('fake')
    .description(
      'run a test double of a secrets store on 127.0.0.1 (for trying airlock; not for production)',
    );
  for (const register of REGISTRATIONS) register(fake, context);
}
