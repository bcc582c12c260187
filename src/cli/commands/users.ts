/**
 * @module cli/commands/users
 * `airlock users create|list|delete`: the server's users, from the command line (as
 * `airflow users create`). A password is read from `--password`, or from standard input with
 * `--password-stdin` (so it stays out of the shell history), or generated and printed.
 */
import { type Command, Option } from 'commander';
import { AirlockError } from '../../errors.ts';
import type { Metastore } from '../../metastore/metastore.ts';
import { type CliContext, parseOutput, printRows, readStdin } from '../context.ts';

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

/** Registers `airlock users …`. */
export function registerUsersCommands(program: Command, context: CliContext): void {
  const users = program.command('users').description("the web UI and API's users and roles");

  users
    .command('create')
    .description(
      'create a user (viewer: names only; editor: metastore values; admin: users and settings)',
    )
    .argument('<username>')
    .addOption(
      new Option('-r, --role <role>', 'the role')
        .choices(['viewer', 'editor', 'admin'])
        .default('viewer'),
    )
    .option('-p, --password <password>', 'the password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input', false)
    .option('--force', 'replace the password and role of an existing user', false)
    .action(
      async (
        username: string,
        options: {
          role: 'viewer' | 'editor' | 'admin';
          password?: string;
          passwordStdin: boolean;
          force: boolean;
        },
      ) => {
        if (options.password !== undefined && options.passwordStdin) {
          throw new AirlockError(
            'AIRLOCK_ERR_CLI_USAGE',
            'give --password or --password-stdin, not both',
          );
        }
        const { generatePassword } = await import('../../server/store.ts');
        const given = options.passwordStdin ? await readStdin() : options.password;
        const password = given ?? generatePassword();
        await withStore(context, async (store) => {
          try {
            await store.createUser(username, password, options.role, { replace: options.force });
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
        });
        context.io.stdout(`User ${username} created with role ${options.role}\n`);
        if (given === undefined) context.io.stdout(`Generated password: ${password}\n`);
      },
    );

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
    .argument('<username>')
    .action(async (username: string) => {
      const deleted = await withStore(context, (store) => store.deleteUser(username));
      if (!deleted) {
        throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', `no user \`${username}\``);
      }
      context.io.stdout(`User ${username} deleted\n`);
    });
}
