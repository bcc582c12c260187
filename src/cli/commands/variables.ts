/**
 * @module cli/commands/variables
 * `airlock variables …`: read Variables through the whole chain.
 */
import { type Command, Option } from 'commander';
import { NotFoundError } from '../../errors.ts';
import { parseVariableJson } from '../../model/variable.ts';
import { type CliContext, printJson } from '../context.ts';

interface GetOptions {
  default?: string;
  json?: boolean;
  output: 'plain' | 'json';
}

/** Registers `airlock variables`. */
export function registerVariableCommands(program: Command, context: CliContext): void {
  const variables = program
    .command('variables')
    .description('read Variables (key → string) through the resolution chain');

  variables
    .command('get')
    .description(
      'print a Variable resolved through the chain (external backends → environment → metastore)',
    )
    .argument('<key>', 'the Variable key')
    .option('-d, --default <value>', 'print this instead of failing when no source defines the key')
    .option('-j, --json', 'parse the value as JSON (Airflow deserialize_json)')
    .addOption(
      new Option('-o, --output <format>', 'plain: the value alone; json: {key, value, source}')
        .choices(['plain', 'json'])
        .default('plain'),
    )
    .action(async (key: string, options: GetOptions) => {
      const found = await context.resolver().getVariable(key);
      if (found === undefined && options.default === undefined) {
        throw new NotFoundError('AIRLOCK_ERR_VAR_NOT_FOUND', `Variable \`${key}\` does not exist`, {
          details: { key },
        });
      }
      // As in Airflow, the default is printed as given, never parsed as JSON.
      const source = found?.source ?? 'default';
      const value: unknown =
        found === undefined
          ? options.default
          : options.json
            ? parseVariableJson(key, found.value)
            : found.value;
      if (options.output === 'json') {
        printJson(context.io, { key, value, source });
        return;
      }
      const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
      context.io.stdout(`${text}\n`);
    });
}
