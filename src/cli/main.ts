/**
 * @module cli/main
 * The CLI: builds the command tree and runs it. This is the only module that prints errors and
 * sets the exit code: 0 ok, 1 error, 2 usage error. Errors are one line with their code and no
 * stack trace.
 */
import { Command, CommanderError } from 'commander';
import { isAirlockError } from '../errors.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import { databaseError } from '../metastore/store-errors.ts';
import { type CliContext, type CliIo, createCliContext, stderrIsTty } from './context.ts';
import { VERSION } from './version.ts';

/** Registers one command group on the program. */
type Registrar = (program: Command, context: CliContext) => void;

/**
 * Each top-level command and the module that registers it, in the order `--help` lists them.
 * Loaded on demand: a run loads only the module of the command it runs (a cold `variables get`
 * does not pay for the server, the workers or the fakes); help and unknown commands load all.
 */
const COMMANDS: ReadonlyArray<readonly [readonly string[], () => Promise<Registrar>]> = [
  [['variables'], async () => (await import('./commands/variables.ts')).registerVariableCommands],
  [
    ['connections'],
    async () => (await import('./commands/connections.ts')).registerConnectionCommands,
  ],
  [['db', 'rotate-fernet-key'], async () => (await import('./commands/db.ts')).registerDbCommands],
  [['secrets'], async () => (await import('./commands/secrets.ts')).registerSecretsCommands],
  [['migrate'], async () => (await import('./commands/migrate.ts')).registerMigrateCommand],
  [['doctor'], async () => (await import('./commands/doctor.ts')).registerDoctorCommand],
  [['config'], async () => (await import('./commands/config.ts')).registerConfigCommands],
  [['demo'], async () => (await import('./commands/demo.ts')).registerDemoCommand],
  [['fake'], async () => (await import('./commands/fake.ts')).registerFakeCommands],
  [['run'], async () => (await import('./commands/run.ts')).registerRunCommand],
  // `dags` and `tasks` load together: the state, details, delete, list and clear verbs below are
  // added to both groups.
  [['dags', 'tasks'], async () => (await import('./commands/dags.ts')).registerDagsCommands],
  [['dags', 'tasks'], async () => (await import('./commands/tasks.ts')).registerTasksCommands],
  [
    ['dags', 'tasks'],
    async () => (await import('./commands/dag-state.ts')).registerDagStateCommands,
  ],
  [['worker'], async () => (await import('./commands/worker.ts')).registerWorkerCommand],
  [['scheduler'], async () => (await import('./commands/scheduler.ts')).registerSchedulerCommand],
  [['server'], async () => (await import('./commands/server.ts')).registerServerCommand],
  [['users'], async () => (await import('./commands/users.ts')).registerUsersCommands],
];

/**
 * The command groups `argv` needs: the one its first word names, or every one (no command, an
 * option such as `--help`, or a word that is no command, for the suggestion).
 *
 * @example
 * ```ts
 * const program = buildProgram(io, await loadCommands(['variables', 'get', 'k']));
 * ```
 */
export async function loadCommands(argv: readonly string[]): Promise<Registrar[]> {
  const named = COMMANDS.filter(([names]) => names.includes(argv[0] ?? ''));
  return Promise.all((named.length > 0 ? named : COMMANDS).map(([, load]) => load()));
}

/** Builds the `airlock` command tree with `commands` (exported for tests and help checks). */
export function buildProgram(
  io: CliIo,
  commands: readonly Registrar[],
  context: CliContext = createCliContext(io),
): Command {
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
  for (const register of commands) register(program, context);
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
  const program = buildProgram(io, await loadCommands(argv), context);
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
  // A database error no store method mapped: an outage or a conflict, reported as one.
  const stored = databaseError(err, 'the configured database', 'finish the command');
  if (stored) return reportError(stored, io, masker);
  // An error nobody coded: say so without its message (it may quote a value) or its stack.
  const name = err instanceof Error ? err.name : typeof err;
  io.stderr(`airlock: error AIRLOCK_ERR_INTERNAL: unexpected ${name}; this is a bug in airlock\n`);
  return 1;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
