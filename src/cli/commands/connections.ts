/**
 * @module cli/commands/connections
 * `airlock connections …`, mirroring `airflow connections …`: `get` reads through the whole
 * chain; `add`, `delete`, `list`, `import` and `export` work on the metastore.
 */
import { type Command, Option } from 'commander';
import { AirlockError, NotFoundError } from '../../errors.ts';
import { redactSensitive } from '../../masking/sensitive-keys.ts';
import type { Metastore } from '../../metastore/metastore.ts';
import { Connection } from '../../model/connection.ts';
import { getConnection } from '../../model/connection-lookup.ts';
import { urlsplit } from '../../model/connection-uri.ts';
import { safeJsonParse } from '../../util/json.ts';
import {
  type CliContext,
  closing,
  LIST_FORMATS,
  type ListFormat,
  openExportOutput,
  printJson,
  printRows,
  unreadableCell,
  warnUnreadable,
} from '../context.ts';

interface GetOptions {
  output: 'plain' | 'json' | 'uri' | 'table' | 'yaml';
}

export interface AddOptions {
  connUri?: string;
  connJson?: string;
  connType?: string;
  connHost?: string;
  connLogin?: string;
  connPassword?: string;
  connSchema?: string;
  connPort?: string;
  connExtra?: string;
  connDescription?: string;
}

/** Runs a command body and closes what it opened, even when it fails. */
function usage(message: string): AirlockError {
  return new AirlockError('AIRLOCK_ERR_CLI_USAGE', message);
}

/** An extra (JSON text) with the values under sensitive keys replaced by `***`. */
function redactedExtra(extra: string | null, words: readonly string[]): unknown {
  if (extra === null || extra === '') return null;
  const parsed = safeJsonParse(extra);
  return parsed.ok ? redactSensitive(parsed.value, words) : '***';
}

/** The Connection `connections add` describes, with Airflow's rules for combining options. */
export function connectionFromAddOptions(connId: string, options: AddOptions): Connection {
  if (!Connection.isValidConnId(connId)) {
    throw new AirlockError(
      'AIRLOCK_ERR_CONN_ID_INVALID',
      `Could not create connection: the conn_id \`${connId}\` is not valid (letters, digits, \`_\`, \`.\` and \`-\`; at most 200 characters)`,
      { details: { conn_id: connId } },
    );
  }
  const hasUri = Boolean(options.connUri);
  const hasJson = Boolean(options.connJson);
  if (!options.connType && !hasUri && !hasJson) {
    throw usage('Must supply either --conn-uri or --conn-json if not supplying --conn-type');
  }
  if (hasUri && hasJson) throw usage('Cannot supply both --conn-uri and --conn-json');
  if (hasUri || hasJson) {
    const fieldOptions = [
      ['--conn-type', options.connType],
      ['--conn-host', options.connHost],
      ['--conn-login', options.connLogin],
      ['--conn-password', options.connPassword],
      ['--conn-schema', options.connSchema],
      ['--conn-port', options.connPort],
    ] as const;
    const clashing: string[] = fieldOptions.filter(([, v]) => v !== undefined).map(([n]) => n);
    if (hasJson && options.connExtra !== undefined) clashing.push('--conn-extra');
    if (clashing.length > 0) {
      throw usage(
        `these options cannot be combined with --conn-${hasUri ? 'uri' : 'json'}: ${clashing.join(', ')}`,
      );
    }
  }
  if (hasUri) {
    const uri = options.connUri as string;
    if (urlsplit(uri).scheme === '') {
      // The URI is not repeated: it may hold a password.
      throw new AirlockError(
        'AIRLOCK_ERR_CONN_URI_INVALID',
        `connection \`${connId}\`: the URI given to --conn-uri has no scheme (conn_type)`,
        { details: { conn_id: connId } },
      );
    }
    const parsed = Connection.fromFields(
      { uri, description: options.connDescription ?? null },
      connId,
    );
    if (options.connExtra === undefined) return parsed;
    // As Airflow's `set_extra` after the URI: --conn-extra replaces the URI's query.
    return Connection.fromFields(
      {
        conn_type: parsed.connType,
        description: parsed.description,
        host: parsed.host,
        login: parsed.login,
        password: parsed.password,
        schema: parsed.schema,
        port: parsed.port,
        extra: options.connExtra,
      },
      connId,
    );
  }
  if (hasJson) {
    const conn = Connection.fromJson(options.connJson as string, connId);
    if (!conn.connType) throw usage('--conn-json is invalid: it must give a conn_type');
    return conn;
  }
  return Connection.fromFields(
    {
      conn_type: options.connType ?? null,
      description: options.connDescription ?? null,
      host: options.connHost ?? null,
      login: options.connLogin ?? null,
      password: options.connPassword ?? null,
      schema: options.connSchema ?? null,
      port: options.connPort ?? null,
      extra: options.connExtra ?? null,
    },
    connId,
  );
}

/**
 * `airlock connections test CONN_ID`: resolves the connection through the chain and tests it as
 * the API's `POST /connections/test` does (Airflow's URI rules, then TCP reachability of its host;
 * airlock has no provider hooks to sign in with). Exit 1 when the test fails.
 */
function registerConnectionTest(connections: Command, context: CliContext): void {
  connections
    .command('test')
    .description(
      'test a Connection resolved through the chain: it parses, and its host:port answers',
    )
    .argument('<conn_id>', 'the connection id')
    .action((connId: string) =>
      closing(context, async () => {
        const { value } = await getConnection(context.resolver(), connId);
        const { testConnection } = await import('../../server/service.ts');
        const result = await testConnection(value);
        context.io.stdout(
          `${result.status ? 'Connection success!' : 'Connection failed!'}\n${context.masker.redact(result.message)}\n`,
        );
        if (!result.status) {
          throw new AirlockError(
            'AIRLOCK_ERR_CONN_TEST_FAILED',
            `connection \`${connId}\` failed its test`,
          );
        }
      }),
    );
}

/** `airlock connections get`. */
function registerGet(connections: Command, context: CliContext): void {
  connections
    .command('get')
    .description(
      'print a Connection resolved through the chain, password included (you asked for it)',
    )
    .argument('<conn_id>', 'the connection id')
    .addOption(
      new Option(
        '-o, --output <format>',
        'plain: one field a line; json, yaml, table: every field with uri and source; uri: the Airflow URI',
      )
        .choices(['plain', 'json', 'yaml', 'table', 'uri'])
        .default('plain'),
    )
    .action((connId: string, options: GetOptions) =>
      closing(context, async () => {
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
        if (options.output === 'yaml' || options.output === 'table') {
          await printRows(context.io, [record], options.output);
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
      }),
    );
}

/** `airlock connections add`. */
function registerAdd(connections: Command, context: CliContext): void {
  connections
    .command('add')
    .description(
      'add a Connection to the metastore (password and extra encrypted); an existing conn_id is refused',
    )
    .argument('<conn_id>', 'the connection id (letters, digits, _ . -; at most 200 characters)')
    .option('--conn-uri <uri>', 'the connection as an Airflow URI')
    .option('--conn-json <json>', 'the connection as Airflow JSON ({"conn_type": …, "host": …})')
    .option('--conn-type <type>', 'the connection type (with the other --conn-* fields)')
    .option('--conn-host <host>', 'the host')
    .option('--conn-login <login>', 'the login')
    .option('--conn-password <password>', 'the password')
    .option('--conn-schema <schema>', 'the schema')
    .option('--conn-port <port>', 'the port')
    .option('--conn-extra <json>', 'the extra, a JSON object')
    .option('--conn-description <text>', 'a description')
    .action((connId: string, options: AddOptions) =>
      closing(context, async () => {
        const connection = connectionFromAddOptions(connId, options);
        const store = (await context.metastore('write')) as Metastore;
        await store.addConnection(connId, connection);
        await context.invalidate('connection', [connId]);
        const words = context.config().core.sensitiveVarConnNames;
        context.io.stdout(`Successfully added \`conn_id\`=${connId}\n`);
        await printRows(
          context.io,
          [
            {
              conn_id: connId,
              conn_type: connection.connType,
              host: connection.host,
              login: connection.login,
              port: connection.port,
              extra: redactedExtra(connection.extra, words),
            },
          ],
          'table',
        );
      }),
    );
}

/** `airlock connections delete`. */
function registerDelete(connections: Command, context: CliContext): void {
  connections
    .command('delete')
    .description('delete a Connection from the metastore')
    .argument('<conn_id>', 'the connection id')
    .action((connId: string) =>
      closing(context, async () => {
        const store = await context.metastore('read');
        if (!store || !(await store.deleteConnection(connId))) {
          throw new NotFoundError(
            'AIRLOCK_ERR_CONN_NOT_FOUND',
            `Did not find a connection with \`conn_id\`=${connId} in the metastore`,
            { details: { conn_id: connId } },
          );
        }
        await context.invalidate('connection', [connId]);
        context.io.stdout(`Successfully deleted connection with \`conn_id\`=${connId}\n`);
      }),
    );
}

/** `airlock connections list`. */
function registerList(connections: Command, context: CliContext): void {
  connections
    .command('list')
    .description(
      'list the Connections in the metastore; passwords show as *** and sensitive extra fields are redacted',
    )
    .option('--conn-id <conn_id>', 'list only this connection')
    .addOption(
      new Option('-o, --output <format>', 'table, json, yaml or plain')
        .choices([...LIST_FORMATS])
        .default('table'),
    )
    .action((options: { connId?: string; output: ListFormat }) =>
      closing(context, async () => {
        const words = context.config().core.sensitiveVarConnNames;
        const store = await context.metastore('read');
        const rows: Record<string, unknown>[] = [];
        const unreadable: string[] = [];
        if (store) {
          const records =
            options.connId === undefined
              ? store.connections({ onUnreadable: 'mark' })
              : (async function* () {
                  const one = await store.getConnection(options.connId as string);
                  if (one) yield one;
                })();
          const table = options.output === 'table' || options.output === 'plain';
          for await (const c of records) {
            // A password or extra no key decrypts: the row is listed, marked, without them.
            const bad = c.unreadable?.code;
            if (bad) unreadable.push(`connection \`${c.connId}\` (${bad})`);
            rows.push({
              conn_id: c.connId,
              conn_type: c.connType,
              description: c.description,
              host: c.host,
              schema: c.schema,
              login: c.login,
              password: bad ? (table ? unreadableCell(bad) : null) : c.password ? '***' : null,
              port: c.port,
              extra: redactedExtra(c.extra, words),
              is_encrypted: c.isEncrypted,
              is_extra_encrypted: c.isExtraEncrypted,
              ...(bad && !table ? { unreadable: bad } : {}),
            });
          }
        }
        const columns =
          options.output === 'table' || options.output === 'plain'
            ? ['conn_id', 'conn_type', 'host', 'port', 'schema', 'login', 'password', 'extra']
            : undefined;
        await printRows(context.io, rows, options.output, columns);
        warnUnreadable(context.io, unreadable);
      }),
    );
}

/** `airlock connections import`. */
function registerImport(connections: Command, context: CliContext): void {
  connections
    .command('import')
    .description(
      'import Connections into the metastore from a file (Airflow `connections export` JSON, YAML or .env), in one transaction',
    )
    .argument('<file>', 'the file (- for standard input, read as JSON unless --file-format)')
    .option('--overwrite', 'replace connections the metastore already has (default: skip them)')
    .addOption(
      new Option('--file-format <format>', 'the format, when the extension does not say').choices([
        'json',
        'yaml',
        'env',
      ]),
    )
    .action((file: string, options: { overwrite?: boolean; fileFormat?: string }) =>
      closing(context, async () => {
        const { fileFormatOf, readConnectionFile } = await import(
          '../../metastore/import-export.ts'
        );
        const entries = await readConnectionFile({
          path: file,
          format: fileFormatOf(file, options.fileFormat),
        });
        const store = (await context.metastore('write')) as Metastore;
        const report = await store.importConnections(entries, {
          onExisting: options.overwrite ? 'overwrite' : 'skip',
        });
        await context.invalidate(
          'connection',
          entries.map((entry) => entry.connId),
        );
        context.io.stdout(
          `Imported ${report.total} connections from ${file === '-' ? 'stdin' : file}: ${report.created} created, ${report.overwritten} overwritten, ${report.skipped} skipped (existing conn_ids: ${options.overwrite ? 'overwrite' : 'skip; use --overwrite to replace them'}).\n`,
        );
      }),
    );
}

/** `airlock connections export`. */
function registerExport(connections: Command, context: CliContext): void {
  connections
    .command('export')
    .description(
      "export the metastore's Connections in Airflow's format (passwords in clear; the file is written with mode 0600)",
    )
    .argument('<file>', 'the file (.json, .yaml, .yml, .env), or - for standard output')
    .addOption(
      new Option(
        '--file-format <format>',
        'the format (default: from the extension; json for -)',
      ).choices(['json', 'yaml', 'env']),
    )
    .addOption(
      new Option(
        '--serialization-format <format>',
        'for .env files: each connection as a URI (default) or as JSON',
      ).choices(['uri', 'json']),
    )
    .action(
      (file: string, options: { fileFormat?: string; serializationFormat?: 'uri' | 'json' }) =>
        closing(context, async () => {
          const { fileFormatOf, formatConnections } = await import(
            '../../metastore/import-export.ts'
          );
          const format = fileFormatOf(file, options.fileFormat);
          if (options.serializationFormat && format !== 'env') {
            throw usage('--serialization-format may only be used with the env file format');
          }
          const store = await context.metastore('read');
          const records = [];
          if (store) {
            const { unreadableRowsError } = await import('../../metastore/metastore.ts');
            const unreadable = await store.unreadableFields('connection');
            if (unreadable.length > 0)
              throw unreadableRowsError(unreadable, 'nothing was exported');
            for await (const c of store.connections()) records.push(c);
          }
          const text = await formatConnections(records, format, options.serializationFormat);
          const out = openExportOutput(context.io, file);
          try {
            await out.write(text);
            await out.commit();
          } catch (err) {
            await out.abort();
            throw err;
          }
          const summary = `${records.length} Connections successfully exported to ${out.toStdout ? 'standard output' : file}\n`;
          if (out.toStdout) context.io.stderr(summary);
          else context.io.stdout(summary);
        }),
    );
}

/** Registers `airlock connections` (one function per subcommand). */
export function registerConnectionCommands(program: Command, context: CliContext): void {
  const connections = program
    .command('connections')
    .description(
      'Connections (conn_id → type, host, login, password, …): get through the chain; add, delete, list, import and export in the metastore',
    );
  registerGet(connections, context);
  registerAdd(connections, context);
  registerDelete(connections, context);
  registerList(connections, context);
  registerImport(connections, context);
  registerExport(connections, context);
  registerConnectionTest(connections, context);
}
