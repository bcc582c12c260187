/**
 * @module cli/commands/variables
 * `airlock variables …`, mirroring `airflow variables …`: `get` reads through the whole chain;
 * `set`, `delete`, `list`, `import` and `export` work on the metastore.
 */
import { statSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { AirlockError, NotFoundError } from '../../errors.ts';
import { isSensitiveName, redactSensitive } from '../../masking/sensitive-keys.ts';
import type { ExistingKeyAction, Metastore, VariableRecord } from '../../metastore/metastore.ts';
import { jsonLoads } from '../../model/connection-uri.ts';
import { parseVariableJson } from '../../model/variable.ts';
import { missHint, type Resolution } from '../../resolver/resolver.ts';
import { safeJsonParse } from '../../util/json.ts';
import {
  bufferedSink,
  type CliContext,
  closing,
  createProgress,
  LIST_FORMATS,
  type ListFormat,
  openExportOutput,
  printJson,
  printRows,
  unreadableCell,
  warnUnreadable,
} from '../context.ts';

interface GetOptions {
  default?: string;
  json?: boolean;
  output: 'plain' | 'json';
}

/** The metastore, opened for a change; a write always gets a store (it creates one). */
async function writable(context: CliContext): Promise<Metastore> {
  const store = await context.metastore('write');
  if (!store) throw new AirlockError('AIRLOCK_ERR_INTERNAL', 'the metastore could not be created');
  return store;
}

/** A value as `plain` prints it among several keys: `key=value`, one line each. */
function keyValueLine(key: string, value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  // A value with a line break is written as a JSON string so that each key keeps one line.
  return `${key}=${/[\r\n]/.test(text) ? JSON.stringify(text) : text}`;
}

/**
 * The keys among `missing` that the metastore holds with a NULL value: not found, as in Airflow,
 * but the user is told why rather than that nothing is there.
 */
async function metastoreNulls(context: CliContext, missing: readonly string[]): Promise<string[]> {
  const store = await context.metastore('read').catch(() => undefined);
  if (!store) return [];
  const records = await Promise.all(
    missing.map((key) => store.getVariableRecord(key).catch(() => undefined)),
  );
  return missing.filter((_, i) => records[i] !== undefined && records[i]?.value === null);
}

/** A Variable's value as `list` shows it: `***` under a sensitive key or inside a JSON value. */
function listedValue(key: string, value: string | null, words: readonly string[]): string | null {
  if (value === null) return null;
  if (isSensitiveName(key, words)) return '***';
  const parsed = safeJsonParse(value);
  if (parsed.ok && parsed.value !== null && typeof parsed.value === 'object') {
    const redacted = redactSensitive(parsed.value, words);
    if (JSON.stringify(redacted) !== JSON.stringify(parsed.value)) return JSON.stringify(redacted);
  }
  return value;
}

/** `airlock variables get`. */
function registerGet(variables: Command, context: CliContext): void {
  variables
    .command('get')
    .description(
      'print Variables resolved through the chain (external backends → environment → metastore)',
    )
    .argument('<keys...>', 'the Variable key (several: resolved together)')
    .option('-d, --default <value>', 'print this instead of failing when no source defines a key')
    .option('-j, --json', 'parse the value as JSON (Airflow deserialize_json)')
    .addOption(
      new Option(
        '-o, --output <format>',
        'plain: the value alone (several keys: key=value lines); json: {key, value, source} (several: a list)',
      )
        .choices(['plain', 'json'])
        .default('plain'),
    )
    .action((keys: string[], options: GetOptions) =>
      closing(context, async () => {
        const resolver = context.resolver();
        // Every key is looked up at once; each lookup walks the chain on its own.
        const found: Array<Resolution<string> | undefined> = await Promise.all(
          keys.map((key) => resolver.getVariable(key)),
        );
        const missing = keys.filter((_, i) => found[i] === undefined);
        if (missing.length > 0 && options.default === undefined) {
          const names = missing.map((k) => `\`${k}\``).join(', ');
          // A link's note on a suspect miss (a setting that does not match the store).
          const hints = [
            ...new Set(await Promise.all(missing.map((k) => missHint(resolver, 'variable', k)))),
          ].join('');
          const nulls = await metastoreNulls(context, missing);
          throw new NotFoundError(
            'AIRLOCK_ERR_VAR_NOT_FOUND',
            `${
              missing.length === 1
                ? `Variable ${names} does not exist`
                : `Variables ${names} do not exist`
            }${hints}${
              nulls.length === 0
                ? ''
                : ` (the metastore holds a row with a NULL value, which Airflow reads as unset, for ${nulls.map((k) => `\`${k}\``).join(', ')})`
            }`,
            { details: { key: missing[0] ?? '' } },
          );
        }
        const results = keys.map((key, i) => {
          const hit = found[i];
          // As in Airflow, the default is printed as given, never parsed as JSON.
          const value: unknown =
            hit === undefined
              ? options.default
              : options.json
                ? parseVariableJson(key, hit.value)
                : hit.value;
          return { key, value, source: hit?.source ?? 'default' };
        });
        if (options.output === 'json') {
          printJson(context.io, keys.length === 1 ? results[0] : results);
          return;
        }
        if (keys.length === 1) {
          const value = results[0]?.value;
          const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
          context.io.stdout(`${text}\n`);
          return;
        }
        context.io.stdout(`${results.map((r) => keyValueLine(r.key, r.value)).join('\n')}\n`);
      }),
    );
}

/** `airlock variables set`. */
function registerSet(variables: Command, context: CliContext): void {
  variables
    .command('set')
    .description('store a Variable in the metastore, encrypted; an existing one is overwritten')
    .argument('<key>', 'the Variable key')
    .argument('<value>', 'the value')
    .option('--description <text>', 'a description (kept when not given)')
    .option('-j, --json', 'check that the value is JSON, and store it indented as Airflow does')
    .action((key: string, value: string, options: { description?: string; json?: boolean }) =>
      closing(context, async () => {
        let stored = value;
        if (options.json) {
          const parsed = safeJsonParse(value);
          if (!parsed.ok) {
            throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', `the value ${parsed.message}`);
          }
          const { pyJsonDumps } = await import('../../metastore/py-json.ts');
          stored = pyJsonDumps(jsonLoads(value), { indent: 2 });
        }
        const store = await writable(context);
        const outcome = await store.setVariable(key, stored, { description: options.description });
        await context.invalidate('variable', [key]);
        context.io.stdout(`Variable ${key} ${outcome}\n`);
      }),
    );
}

/** `airlock variables delete`. */
function registerDelete(variables: Command, context: CliContext): void {
  variables
    .command('delete')
    .description('delete a Variable from the metastore')
    .argument('<key>', 'the Variable key')
    .action((key: string) =>
      closing(context, async () => {
        const store = await context.metastore('read');
        if (!store || !(await store.deleteVariable(key))) {
          throw new NotFoundError(
            'AIRLOCK_ERR_VAR_NOT_FOUND',
            `Variable \`${key}\` does not exist in the metastore`,
            { details: { key } },
          );
        }
        await context.invalidate('variable', [key]);
        context.io.stdout(`Variable ${key} deleted\n`);
      }),
    );
}

/** `airlock variables list`. */
function registerList(variables: Command, context: CliContext): void {
  variables
    .command('list')
    .description(
      'list the Variables in the metastore; values under sensitive keys (password, secret, token, …) show as ***',
    )
    .addOption(
      new Option('-o, --output <format>', 'table, json, yaml or plain')
        .choices([...LIST_FORMATS])
        .default('table'),
    )
    .action((options: { output: ListFormat }) =>
      closing(context, async () => {
        const words = context.config().core.sensitiveVarConnNames;
        const store = await context.metastore('read');
        const rows: Record<string, unknown>[] = [];
        const unreadable: string[] = [];
        if (store) {
          // One row that cannot be decrypted is shown as such; it does not hide the others.
          for await (const v of store.variables({ onUnreadable: 'mark' })) {
            if (v.unreadable) {
              unreadable.push(`variable \`${v.key}\` (${v.unreadable.code})`);
              const table = options.output === 'table' || options.output === 'plain';
              rows.push({
                key: v.key,
                value: table ? unreadableCell(v.unreadable.code) : null,
                description: v.description,
                ...(table ? {} : { unreadable: v.unreadable.code }),
              });
              continue;
            }
            rows.push({
              key: v.key,
              value: listedValue(v.key, v.value, words),
              description: v.description,
            });
          }
        }
        await printRows(context.io, rows, options.output, ['key', 'value', 'description']);
        warnUnreadable(context.io, unreadable);
      }),
    );
}

/** `airlock variables import`. */
function registerImport(variables: Command, context: CliContext): void {
  variables
    .command('import')
    .description(
      'import Variables into the metastore from a file (Airflow `variables export` JSON, .yaml or .env), in one transaction',
    )
    .argument('<file>', 'the file (- for standard input, read as JSON unless --file-format)')
    .addOption(
      new Option(
        '-a, --action-on-existing-key <action>',
        'what to do with keys the metastore already has: overwrite, skip, or fail (import nothing)',
      )
        .choices(['overwrite', 'fail', 'skip'])
        .default('overwrite'),
    )
    .option('--overwrite', 'the same as -a overwrite')
    .addOption(
      new Option('--file-format <format>', 'the format, when the extension does not say').choices([
        'json',
        'yaml',
        'env',
      ]),
    )
    .action(
      (
        file: string,
        options: {
          actionOnExistingKey: ExistingKeyAction;
          overwrite?: boolean;
          fileFormat?: string;
        },
      ) =>
        closing(context, async () => {
          const { fileFormatOf, readVariableFile } = await import(
            '../../metastore/import-export.ts'
          );
          const format = fileFormatOf(file, options.fileFormat);
          const action: ExistingKeyAction = options.overwrite
            ? 'overwrite'
            : options.actionOnExistingKey;
          let size = 0;
          if (file !== '-') {
            try {
              size = statSync(file).size;
            } catch (err) {
              const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
              throw new AirlockError(
                'AIRLOCK_ERR_STORE_IMPORT_INVALID',
                `\`${file}\`: cannot read the file (${code})`,
                { details: { errno: code } },
              );
            }
          }
          const store = await writable(context);
          const progress = createProgress(context.io, 'variables', size);
          let bytes = 0;
          let report: Awaited<ReturnType<Metastore['importVariables']>>;
          try {
            report = await store.importVariables(
              readVariableFile({
                path: file,
                format,
                onBytes: (b) => {
                  bytes = b;
                },
              }),
              { onExisting: action, onProgress: (count) => progress.update(count, bytes) },
            );
          } finally {
            progress.done();
          }
          await context.invalidate('variable', '*');
          const source = file === '-' ? 'stdin' : file;
          context.io.stdout(
            `Imported ${report.total} variables from ${source}: ${report.created} created, ${report.overwritten} overwritten, ${report.skipped} skipped (existing keys: ${action}).\n`,
          );
        }),
    );
}

/** `airlock variables export`. */
function registerExport(variables: Command, context: CliContext): void {
  variables
    .command('export')
    .description(
      "export the metastore's Variables to a file in Airflow's JSON format (values in clear; the file is written with mode 0600)",
    )
    .argument('<file>', 'the file, or - for standard output')
    .action((file: string) =>
      closing(context, async () => {
        const [{ writeVariablesJson }, { unreadableRowsError }] = await Promise.all([
          import('../../metastore/import-export.ts'),
          import('../../metastore/metastore.ts'),
        ]);
        const store = await context.metastore('read');
        const out = openExportOutput(context.io, file);
        // An export is whole or not made. Standard output cannot be taken back: every row is
        // checked first. A file is written to a temporary name in one pass (each row read and
        // decrypted once, page by page) and only renamed into place when every row was read.
        const unreadable = store && out.toStdout ? await store.unreadableFields('variable') : [];
        if (unreadable.length > 0) throw unreadableRowsError(unreadable, 'nothing was exported');
        async function* readable(): AsyncGenerator<VariableRecord[]> {
          if (!store) return;
          for await (const page of store.variablePages({ onUnreadable: 'mark' })) {
            for (const record of page) {
              if (record.unreadable) unreadable.push(`variable \`${record.key}\``);
            }
            yield page.filter((record) => !record.unreadable);
          }
        }
        const sink = bufferedSink((text) => out.write(text));
        let count: number;
        try {
          count = await writeVariablesJson(readable(), sink.write);
          await sink.flush();
          if (unreadable.length > 0) throw unreadableRowsError(unreadable, 'nothing was exported');
          await out.commit();
        } catch (err) {
          await out.abort();
          throw err;
        }
        const summary = `${count} Variables successfully exported to ${out.toStdout ? 'standard output' : file}\n`;
        if (out.toStdout) context.io.stderr(summary);
        else context.io.stdout(summary);
      }),
    );
}

/** Registers `airlock variables` (one function per subcommand). */
export function registerVariableCommands(program: Command, context: CliContext): void {
  const variables = program
    .command('variables')
    .description(
      'Variables (key → string): get through the resolution chain; set, delete, list, import and export in the metastore',
    );
  registerGet(variables, context);
  registerSet(variables, context);
  registerDelete(variables, context);
  registerList(variables, context);
  registerImport(variables, context);
  registerExport(variables, context);
}
