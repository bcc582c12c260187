/**
 * @module cli/commands/_fake-serve
 * What every `airlock fake <store>` sub-command shares: its registration type, `--port` parsing,
 * and serving until SIGINT/SIGTERM. Kept apart from `fake.ts` (which imports every fake's module)
 * so the fakes' modules import no module that imports them.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { type CliContext, untilStopSignal } from '../context.ts';

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
