/**
 * @module cli/commands/secrets-write
 * `airlock secrets put|delete variable KEY [VALUE] | connection CONN_ID (--conn-uri … |
 * --conn-json …) --backend NAME`: writes to a configured store at exactly the name its Airflow
 * reader reads (the backend's own `putSecret`), with the same credentials configuration as
 * reads. A value given as `-` is read from standard input, so it never sits in shell history.
 * Nothing written is ever printed.
 */
import { Argument, type Command } from 'commander';
import type { SecretKind, SecretsBackend } from '../../backends/backend.ts';
import { AirlockError } from '../../errors.ts';
import { type CliContext, closing, readStdin } from '../context.ts';
import { connectionFromAddOptions } from './connections.ts';

interface WriteOptions {
  backend: string;
  connUri?: string;
  connJson?: string;
}

function usage(message: string): AirlockError {
  return new AirlockError('AIRLOCK_ERR_CLI_USAGE', message);
}

/** The configured backend named `name`, if it can be written. */
export function writableBackend(context: CliContext, name: string): SecretsBackend {
  const chain = context.resolver().backends;
  const backend = chain.find((b) => b.name === name);
  if (backend?.putSecret && backend.deleteSecret) return backend;
  const stores = chain.filter((b) => b.putSecret).map((b) => b.name);
  const configured = stores.length > 0 ? stores.join(', ') : 'none';
  const why =
    backend === undefined
      ? `no backend \`${name}\` is configured`
      : name === 'metastore'
        ? 'the metastore is written with `airlock variables set` and `airlock connections add`'
        : `airlock does not write to \`${name}\``;
  throw new AirlockError(
    'AIRLOCK_ERR_BACKEND_READ_ONLY',
    `${why} (stores airlock can write here: ${configured})`,
    { details: { backend: name } },
  );
}

/** The value to write: the argument, or standard input for `-`. */
async function givenValue(given: string | undefined, what: string): Promise<string> {
  if (given === undefined) throw usage(`${what} is missing`);
  return given === '-' ? readStdin() : given;
}

/** The Connection's raw value (URI or JSON), checked as `connections add` checks it. */
async function connectionValue(connId: string, options: WriteOptions): Promise<string> {
  const connUri = options.connUri === undefined ? undefined : await givenValue(options.connUri, '');
  const connJson =
    options.connJson === undefined ? undefined : await givenValue(options.connJson, '');
  if (connUri === undefined && connJson === undefined) {
    throw usage('give the connection with --conn-uri or --conn-json');
  }
  connectionFromAddOptions(connId, {
    ...(connUri === undefined ? {} : { connUri }),
    ...(connJson === undefined ? {} : { connJson }),
  });
  return (connUri ?? connJson) as string;
}

/** Registers `airlock secrets put` and `airlock secrets delete` under `secrets`. */
export function registerSecretWriteCommands(secrets: Command, context: CliContext): void {
  const kindArgument = () =>
    new Argument('<kind>', 'variable or connection').choices(['variable', 'connection']);

  secrets
    .command('put')
    .description(
      'write a Variable or a Connection to a configured store, at the name Airflow reads (VALUE or --conn-… `-` reads standard input)',
    )
    .addArgument(kindArgument())
    .argument('<name>', 'the Variable key or conn_id')
    .argument('[value]', "the Variable's value (`-`: standard input)")
    .requiredOption('--backend <name>', 'the store to write to (vault, aws-ssm, …)')
    .option('--conn-uri <uri>', 'the Connection as an Airflow URI (`-`: standard input)')
    .option('--conn-json <json>', 'the Connection as Airflow JSON (`-`: standard input)')
    .action((kind: SecretKind, name: string, value: string | undefined, options: WriteOptions) =>
      closing(context, async () => {
        if (kind === 'variable' && (options.connUri || options.connJson)) {
          throw usage('--conn-uri and --conn-json are for connections');
        }
        if (kind === 'connection' && value !== undefined) {
          throw usage('give a connection with --conn-uri or --conn-json, not as a value');
        }
        const backend = writableBackend(context, options.backend);
        const raw =
          kind === 'variable'
            ? await givenValue(value, 'the value')
            : await connectionValue(name, options);
        await backend.putSecret?.(kind, name, raw);
        await context.invalidate(kind, [name]);
        const where = backend.locate?.(kind, name);
        context.io.stdout(
          `put ${kind} \`${name}\` in ${backend.name}${where ? ` at ${where}` : ''}\n`,
        );
      }),
    );

  secrets
    .command('delete')
    .description('delete a Variable or a Connection from a configured store')
    .addArgument(kindArgument())
    .argument('<name>', 'the Variable key or conn_id')
    .requiredOption('--backend <name>', 'the store to delete from')
    .action((kind: SecretKind, name: string, options: WriteOptions) =>
      closing(context, async () => {
        const backend = writableBackend(context, options.backend);
        await backend.deleteSecret?.(kind, name);
        await context.invalidate(kind, [name]);
        const where = backend.locate?.(kind, name);
        context.io.stdout(
          `deleted ${kind} \`${name}\` from ${backend.name}${where ? ` at ${where}` : ''}\n`,
        );
      }),
    );
}
