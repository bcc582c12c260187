/**
 * @module cli/commands/connections
 * `airlock connections …`: read Connections through the whole chain.
 */
import { type Command, Option } from 'commander';
import { getConnection } from '../../model/connection-lookup.ts';
import { type CliContext, printJson } from '../context.ts';

interface GetOptions {
  output: 'plain' | 'json' | 'uri';
}

/** Registers `airlock connections`. */
export function registerConnectionCommands(program: Command, context: CliContext): void {
  const connections = program
    .command('connections')
    .description('read Connections (conn_id → type, host, login, password, …) through the chain');

  connections
    .command('get')
    .description(
      'print a Connection resolved through the chain, password included (you asked for it)',
    )
    .argument('<conn_id>', 'the connection id')
    .addOption(
      new Option(
        '-o, --output <format>',
        'plain: one field a line; json: every field with uri and source; uri: the Airflow URI',
      )
        .choices(['plain', 'json', 'uri'])
        .default('plain'),
    )
    .action(async (connId: string, options: GetOptions) => {
      const { value: conn, source } = await getConnection(context.resolver(), connId);
      const dict = conn.toDict();
      const uri = conn.getUri();
      if (options.output === 'uri') {
        context.io.stdout(`${uri}\n`);
        return;
      }
      const record = {
        conn_id: dict.conn_id,
        conn_type: dict.conn_type,
        description: dict.description,
        host: dict.host,
        login: dict.login,
        password: dict.password,
        schema: dict.schema,
        port: dict.port,
        // Airflow's to_dict gives {} for a connection without extra; `null` says "none".
        extra: conn.extra === null ? null : dict.extra,
        uri,
        source,
      };
      if (options.output === 'json') {
        printJson(context.io, record);
        return;
      }
      const width = Math.max(...Object.keys(record).map((k) => k.length));
      const lines = Object.entries(record).map(([field, value]) => {
        const text =
          value === null || value === undefined
            ? ''
            : typeof value === 'string'
              ? value
              : JSON.stringify(value);
        return `${field.padEnd(width)}  ${text}`.trimEnd();
      });
      context.io.stdout(`${lines.join('\n')}\n`);
    });
}
