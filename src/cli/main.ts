/**
 * @module cli/main
 * The CLI: builds the command tree and runs it. This is the only module that prints errors and
 * sets the exit code: 0 ok, 1 error, 2 usage error. Errors are one line with their code and no
 * stack trace.
 */
import { Command, CommanderError } from 'commander';
import { isAirlockError } from '../errors.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import { registerConfigCommands } from './commands/config.ts';
import { registerConnectionCommands } from './commands/connections.ts';
import { registerDagStateCommands } from './commands/dag-state.ts';
import { registerDagsCommands } from './commands/dags.ts';
import { registerDbCommands } from './commands/db.ts';
import { registerDemoCommand } from './commands/demo.ts';
import { registerFakeCommands } from './commands/fake.ts';
import { registerRunCommand } from './commands/run.ts';
import { registerSchedulerCommand } from './commands/scheduler.ts';
import { registerSecretsCommands } from './commands/secrets.ts';
import { registerServerCommand } from './commands/server.ts';
import { registerTasksCommands } from './commands/tasks.ts';
import { registerUsersCommands } from './commands/users.ts';
import { registerVariableCommands } from './commands/variables.ts';
import { registerWorkerCommand } from './commands/worker.ts';
import { type CliContext, type CliIo, createCliContext, stderrIsTty } from './context.ts';
import { VERSION } from './version.ts';

/** Builds the `airlock` command tree (exported for tests and for help-text checks). */
export function buildProgram(io: CliIo, context: CliContext = createCliContext(io)): Command {
  const program = new Command('airlock')
    .description(
      'Secrets for data pipelines: Airflow-compatible Variables and Connections, resolved through\n' +
        'an external secrets backend, the environment and the metastore, with provenance.',
    )
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .showSuggestionAfterError(true)
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      // Usage errors get the same one-line shape as every other error.
      outputError: (text, write) =>
        write(`airlock: error AIRLOCK_ERR_CLI_USAGE: ${text.replace(/^error: /, '').trim()}\n`),
    });
  // The configuration (and the configured backends' modules only) loads before any action.
  program.hook('preAction', () => context.prepare());
  registerVariableCommands(program, context);
  registerConnectionCommands(program, context);
  registerDbCommands(program, context);
  registerSecretsCommands(program, context);
  registerConfigCommands(program, context);
  registerDemoCommand(program, context);
  registerFakeCommands(program, context);
  registerRunCommand(program, context);
  registerDagsCommands(program, context);
  registerTasksCommands(program, context);
  registerDagStateCommands(program, context);
  registerWorkerCommand(program, context);
  registerSchedulerCommand(program, context);
  registerServerCommand(program, context);
  registerUsersCommands(program, context);
  // Every sub-command inherits the usage-error handling, and takes Airflow's -v/--verbose (read
  // before parsing, see runCli, so that it sets the log level before anything logs).
  const inherit = (cmd: Command) => {
    for (const sub of cmd.commands) {
      sub.exitOverride().configureOutput(program.configureOutput()).showSuggestionAfterError(true);
      sub.option('-v, --verbose', 'make logging output more verbose (debug)');
      inherit(sub);
    }
  };
  inherit(program);
  return program;
}

/** The process's streams, as the CLI writes to them. */
export const processIo: CliIo = {
  stdout: (text) => {
    process.stdout.write(text);
  },
  stderr: (text) => {
    process.stderr.write(text);
  },
  env: process.env,
  isTty: Boolean(process.stdout.isTTY),
};

/**
 * Runs the CLI with `argv` (without `node` and the script) and exits the process.
 *
 * @example
 * ```ts
 * await runMain(['variables', 'get', 'hello']);
 * ```
 */
export async function runMain(argv: readonly string[], io: CliIo = processIo): Promise<never> {
  const code = await runCli(argv, io);
  // Let stdout drain before exiting (a pipe may still hold a large value).
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}

/** Runs the CLI and returns its exit code instead of exiting (for in-process tests). */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const context = createCliContext(isVerbose(argv) ? verboseIo(io) : io);
  const program = buildProgram(io, context);
  try {
    if (argv.length === 0) {
      // A usage error (no command): the help goes to stderr, as the exit code says it failed.
      program.outputHelp({ error: true });
      return 2;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return context.exitCode ?? 0;
  } catch (err) {
    return reportError(err, io, context.masker);
  }
}

/** Whether `-v`/`--verbose` is among the options (before a `--`). */
function isVerbose(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '-v' || a === '--verbose');
}

/** The IO of a verbose run: the log level is `debug` (as `AIRLOCK__LOGGING__LEVEL=debug`). */
function verboseIo(io: CliIo): CliIo {
  return {
    ...io,
    env: { ...io.env, AIRLOCK__LOGGING__LEVEL: 'debug' },
    stderrIsTty: stderrIsTty(io),
  };
}

function reportError(err: unknown, io: CliIo, masker: SecretsMasker): number {
  if (err instanceof CommanderError) {
    if (
      err.code === 'commander.helpDisplayed' ||
      err.code === 'commander.version' ||
      err.code === 'commander.help'
    ) {
      return 0;
    }
    // Commander has already printed the message through `outputError`.
    return 2;
  }
  if (isAirlockError(err)) {
    // Messages are secret-free by construction; the masker is the second line of defence.
    io.stderr(`airlock: error ${err.code}: ${oneLine(masker.redact(err.message))}\n`);
    if (err.code === 'AIRLOCK_ERR_CLI_USAGE') return 2;
    const exitCode = err.details?.exitCode;
    return typeof exitCode === 'number' ? exitCode : 1;
  }
  // An error nobody coded: say so without its message (it may quote a value) or its stack.
  const name = err instanceof Error ? err.name : typeof err;
  io.stderr(`airlock: error AIRLOCK_ERR_INTERNAL: unexpected ${name}; this is a bug in airlock\n`);
  return 1;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
