/**
 * @module cli/commands/users
 * `airlock users create|list|delete`: the server's users, from the command line (as
 * `airflow users create`, with its flags: `-u -e -f -l -r -p --use-random-password`; Airflow's role
 * names map onto airlock's, see `server/auth/roles.ts`). A password is read from `--password`, or
 * from standard input with `--password-stdin` (so it stays out of the shell history), or generated:
 * printed, except with `--use-random-password` (as Airflow: nobody knows it until it is reset).
 */
import type { Command } from 'commander';
import { AirlockError } from '../../errors.ts';
import type { Metastore } from '../../metastore/metastore.ts';
import { argumentOrFlag, type CliContext, parseOutput, printRows, readStdin } from '../context.ts';

async function withStore<T>(
  context: CliContext,
  fn: (store: import('../../server/store.ts').ServerStore) => Promise<T>,
): Promise<T> {
  try {
    const metastore = (await context.metastore('write')) as Metastore;
    const { ServerStore } = await import('../../server/store.ts');
    return await fn(new ServerStore(metastore));
  } finally {
    await context.dispose();
  }
}

interface CreateOptions {
  username?: string;
  role: string;
  password?: string;
  passwordStdin: boolean;
  useRandomPassword: boolean;
  force: boolean;
}

/** Runs `fn`; the store's request errors (bad name, role or password) become usage errors. */
async function usage<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (
      err instanceof AirlockError &&
      err.code.startsWith('AIRLOCK_ERR_HTTP_') &&
      err.code !== 'AIRLOCK_ERR_HTTP_LAST_ADMIN'
    ) {
      throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', err.message);
    }
    throw err;
  }
}

/** Registers `airlock users …`. */
export function registerUsersCommands(program: Command, context: CliContext): void {
  const users = program.command('users').description("the web UI and API's users and roles");

  users
    .command('create')
    .description(
      "create a user (viewer: names only; editor: metastore values; admin: users and settings), with Airflow's flags",
    )
    .argument('[username]', 'the user name (or -u)')
    .option('-u, --username <username>', 'the user name')
    .option(
      '-r, --role <role>',
      "admin, editor or viewer, or Airflow's Admin, Op (editor), User or Viewer (viewer)",
      'viewer',
    )
    .option('-p, --password <password>', 'the password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input', false)
    .option('--use-random-password', 'set a random password and do not show it (as Airflow)', false)
    .option(
      '-e, --email <email>',
      "accepted for Airflow's scripts; airlock keeps no e-mail address",
    )
    .option('-f, --firstname <name>', "accepted for Airflow's scripts; airlock keeps no names")
    .option('-l, --lastname <name>', "accepted for Airflow's scripts; airlock keeps no names")
    .option('--force', 'replace the password and role of an existing user', false)
    .action(async (positional: string | undefined, options: CreateOptions) => {
      const username = argumentOrFlag('user name', '-u', positional, options.username);
      const passwordSources = [
        options.password !== undefined,
        options.passwordStdin,
        options.useRandomPassword,
      ].filter(Boolean).length;
      if (passwordSources > 1) {
        throw new AirlockError(
          'AIRLOCK_ERR_CLI_USAGE',
          'give one of --password, --password-stdin and --use-random-password',
        );
      }
      const { parseRole } = await import('../../server/auth/roles.ts');
      const role = await usage(() => parseRole(options.role));
      const { generatePassword } = await import('../../server/store.ts');
      const given = options.passwordStdin ? await readStdin() : options.password;
      const password = given ?? generatePassword();
      await withStore(context, (store) =>
        usage(() => store.createUser(username, password, role, { replace: options.force })),
      );
      context.io.stdout(`User ${username} created with role ${role}\n`);
      if (given === undefined && !options.useRandomPassword) {
        context.io.stdout(`Generated password: ${password}\n`);
      }
    });

  users
    .command('list')
    .description('list the users and their roles')
    .option('-o, --output <format>', 'table, json, yaml or plain', 'table')
    .action(async (options: { output: string }) => {
      const format = parseOutput(options.output, ['table', 'json', 'yaml', 'plain'] as const);
      const rows = await withStore(context, (store) => store.listUsers());
      await printRows(
        context.io,
        rows.map((u) => ({ username: u.username, role: u.role, created_at: u.createdAt })),
        format,
        ['username', 'role', 'created_at'],
      );
    });

  users
    .command('delete')
    .description('delete a user, their sessions and API tokens')
    .argument('[username]', 'the user name (or -u)')
    .option('-u, --username <username>', 'the user name')
    .action(async (positional: string | undefined, options: { username?: string }) => {
      const username = argumentOrFlag('user name', '-u', positional, options.username);
      const deleted = await withStore(context, (store) => store.deleteUser(username));
      if (!deleted) {
        throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', `no user \`${username}\``);
      }
      context.io.stdout(`User ${username} deleted\n`);
    });
}
