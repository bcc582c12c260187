/**
 * @module cli/commands/fake
 * `airlock fake <store>`: runs a test double of a secrets store on loopback, for trying airlock
 * (and the Airflow docs' walkthroughs) without the real service. These are clearly test doubles:
 * no persistence, no real security, loopback only.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { type CliContext, untilStopSignal } from '../context.ts';
import { registerAzureKeyVaultFake } from './fake-azure-key-vault.ts';
import { registerGcpSecretManagerFake } from './fake-gcp-secret-manager.ts';
import { registerVaultFake } from './fake-vault.ts';

/** A running fake, as each store's `start` returns it. */
export interface RunningFake {
  url: string;
  close(): Promise<void>;
}

/** One fake's sub-command, registered by its own module. */
export type FakeRegistration = (fake: Command, context: CliContext) => void;

/**
 * Prints `listening on <url>` (and any extra lines), then keeps the fake running until SIGINT
 * or SIGTERM, and closes it.
 */
export async function serveUntilSignal(
  context: CliContext,
  running: RunningFake,
  extraLines: readonly string[] = [],
): Promise<void> {
  context.io.stdout(`listening on ${running.url}\n`);
  for (const line of extraLines) context.io.stdout(`${line}\n`);
  await untilStopSignal();
  await running.close();
}

/** Parses `--port`: an integer from 0 to 65535. */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !/^\d+$/.test(value)) {
    throw new InvalidArgumentError('must be an integer from 0 to 65535');
  }
  return port;
}

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
