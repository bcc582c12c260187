/**
 * @module metastore/import-export
 * Airflow's file formats for moving Variables and Connections in and out of the metastore:
 *
 * - `airflow variables export`: one JSON object, keys sorted, indent 4; a value that is JSON is
 *   written decoded, a value with a description as `{"value": …, "description": …}` (3.x).
 * - `airflow variables import`: that JSON, or `.yaml` / `.env` (3.x `load_variables`); a string
 *   is stored as is, anything else as `json.dumps(value, indent=2)`.
 * - `airflow connections export`: `.json` (`{conn_id: {conn_type, description, login, password,
 *   host, port, schema, extra}}`, indent 2, `extra` the raw string), `.yaml` (the same, keys
 *   sorted), `.env` (`conn_id=<URI>` or `conn_id=<JSON>` lines).
 * - `airflow connections import`: those files, read with the local-filesystem backend's rules.
 *
 * Variable files are read as a stream (JSON and `.env`), so memory stays bounded however many
 * entries they hold. Errors name the file and the line or entry, never a value.
 */

import { createReadStream } from 'node:fs';
import { extname } from 'node:path';
import { AirlockError, isAirlockError } from '../errors.ts';
import { Connection, type ConnectionFields } from '../model/connection.ts';
import { connectionFileFields } from '../model/connection-file-entry.ts';
import {
  fromJsValue,
  JsonDecodeError,
  jsonDumps,
  jsonLoads,
  type PyJson,
} from '../model/connection-uri.ts';
import { safeJsonParse } from '../util/json.ts';
import { YAML_ALIAS_PROBLEM, YAML_MAX_ALIAS_COUNT } from '../util/yaml.ts';
import { readJsonEntries } from './json-entries.ts';
import type {
  ConnectionImportEntry,
  ConnectionRecord,
  VariableImportEntry,
  VariableRecord,
} from './metastore.ts';
import { pyJsonDumps } from './py-json.ts';

/** The file formats Airflow's import/export commands read and write. */
export type FileFormat = 'json' | 'yaml' | 'env';

/** Where an import reads from: a path, or `-` for standard input. */
export interface ImportSource {
  readonly path: string;
  /** The format; by default from the extension (`.json`, `.yaml`/`.yml`, `.env`), `json` for `-`. */
  readonly format?: FileFormat | undefined;
  /** Called with the bytes read so far (for a progress bar). */
  readonly onBytes?: ((bytes: number) => void) | undefined;
  /** Standard input, for `-`. @default process.stdin */
  readonly stdin?: NodeJS.ReadableStream | undefined;
}

function invalid(
  where: string,
  problem: string,
  details: Record<string, string | number> = {},
): AirlockError {
  return new AirlockError('AIRLOCK_ERR_STORE_IMPORT_INVALID', `${where}: ${problem}`, { details });
}

/**
 * The format of `path`, from an explicit choice or its extension.
 *
 * @throws AirlockError `AIRLOCK_ERR_CLI_USAGE` for an extension Airflow does not read.
 * @example
 * ```ts
 * fileFormatOf('conns.yml'); // 'yaml'
 * ```
 */
export function fileFormatOf(path: string, explicit?: string): FileFormat {
  const given = (explicit ?? (path === '-' ? 'json' : extname(path).slice(1))).toLowerCase();
  if (given === 'json' || given === 'env') return given;
  if (given === 'yaml' || given === 'yml') return 'yaml';
  throw new AirlockError(
    'AIRLOCK_ERR_CLI_USAGE',
    `\`${path}\`: unsupported file format; use a .json, .yaml, .yml or .env file (or --file-format)`,
  );
}

/**
 * The offset of the first byte of `bytes` that does not belong to well-formed UTF-8 (no
 * overlong forms, no surrogates, nothing above U+10FFFF), or -1; a sequence cut by the end of
 * `bytes` counts as well-formed when `partialEnd` (the next chunk may finish it).
 */
export function firstInvalidUtf8(bytes: Uint8Array, partialEnd = false): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    let max = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = b === 0xe0 ? 0xa0 : 0x80;
      if (b === 0xed) max = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = b === 0xf0 ? 0x90 : 0x80;
      if (b === 0xf4) max = 0x8f;
    } else {
      return i;
    }
    for (let k = 1; k <= need; k++) {
      if (i + k >= bytes.length) return partialEnd ? -1 : i;
      const next = bytes[i + k] as number;
      const [lo, hi] = k === 1 ? [min, max] : [0x80, 0xbf];
      if (next < lo || next > hi) return i;
    }
    i += need + 1;
  }
  return -1;
}

/** The error for bytes that are not UTF-8, on `line`. */
function notUtf8(source: ImportSource, line: number): AirlockError {
  return invalid(
    `${name(source.path)} line ${line}`,
    'the file is not UTF-8 text (save it as UTF-8; nothing was imported)',
    { line },
  );
}

/**
 * The file's text, chunk by chunk, decoded as UTF-8 across chunk boundaries. Bytes that are not
 * UTF-8 (a Latin-1 file, a CESU-encoded surrogate) are refused with the line they are on, never
 * replaced by U+FFFD.
 */
async function* textChunks(source: ImportSource): AsyncGenerator<string> {
  const stream =
    source.path === '-'
      ? (source.stdin ?? process.stdin)
      : createReadStream(source.path, { highWaterMark: 64 * 1024 });
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let bytes = 0;
  let line = 1;
  try {
    for await (const chunk of stream) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      bytes += buffer.length;
      source.onBytes?.(bytes);
      let text: string;
      try {
        text = decoder.decode(buffer, { stream: true });
      } catch {
        const at = Math.max(0, firstInvalidUtf8(buffer, true));
        throw notUtf8(source, line + countNewlines(buffer.subarray(0, at)));
      }
      line += countNewlines(buffer);
      if (text !== '') yield text;
    }
  } catch (err) {
    if (isAirlockError(err)) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw invalid(`\`${source.path}\``, `cannot read the file (${code})`, { errno: code });
  }
  let rest: string;
  try {
    rest = decoder.decode();
  } catch {
    throw notUtf8(source, line);
  }
  if (rest !== '') yield rest;
}

function countNewlines(bytes: Uint8Array): number {
  let n = 0;
  for (const b of bytes) if (b === 0x0a) n++;
  return n;
}

async function readAll(source: ImportSource): Promise<string> {
  let text = '';
  for await (const chunk of textChunks(source)) text += chunk;
  return text;
}

function name(path: string): string {
  return path === '-' ? 'stdin' : `\`${path}\``;
}

/** A Variable value from a decoded file value, as Airflow 3's `variables import` stores it. */
function variableValue(
  key: string,
  value: PyJson,
  where: string,
): { value: string; description?: string | null } {
  if (typeof value === 'string') return { value };
  if (value instanceof Map && value.has('value')) {
    const inner = value.get('value') ?? null;
    const description = value.get('description') ?? null;
    if (description !== null && typeof description !== 'string') {
      throw invalid(where, `the description of \`${key}\` is not a string`, { key });
    }
    return {
      value: typeof inner === 'string' ? inner : pyJsonDumps(inner, { indent: 2 }),
      description,
    };
  }
  return { value: pyJsonDumps(value, { indent: 2 }) };
}

function entry(
  key: string,
  decoded: { value: string; description?: string | null },
  where: string,
): VariableImportEntry {
  return decoded.description === undefined
    ? { key, value: decoded.value, where }
    : { key, value: decoded.value, description: decoded.description, where };
}

/** The `.env` lines of a file with Airflow's rules: `KEY=VALUE`, no quoting, no trimming. */
async function* envLines(
  source: ImportSource,
): AsyncGenerator<{ key: string; value: string; line: number }> {
  let lineNo = 0;
  const where = () => `${name(source.path)} line ${lineNo}`;
  for await (const line of textLines(textChunks(source))) {
    lineNo++;
    if (line === '' || /^\s*#/.test(line)) continue;
    const eq = line.indexOf('=');
    if (eq === -1) {
      throw invalid(where(), 'the line should contain at least one equal sign ("=")', {
        line: lineNo,
      });
    }
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === '') throw invalid(where(), 'the key is empty', { line: lineNo });
    if (value === '') throw invalid(where(), 'the value is empty', { line: lineNo });
    yield { key, value, line: lineNo };
  }
}

/**
 * The lines of a text given in chunks, split as `readline` splits them (`\n`, `\r\n` or a lone
 * `\r`). A generator, not a stream: an error of the source (bytes that are not UTF-8) reaches
 * the caller's `for await` instead of an unheard stream 'error' event.
 */
async function* textLines(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  let pending = '';
  for await (const chunk of chunks) {
    pending += chunk;
    const parts = pending.split(/\r\n|\r|\n/);
    // The last part may continue in the next chunk; so may a `\r` that ends this one.
    pending = parts.pop() ?? '';
    if (pending === '' && chunk.endsWith('\r')) {
      const last = parts.pop();
      pending = `${last ?? ''}\r`;
    }
    yield* parts;
  }
  const parts = pending.split(/\r\n|\r|\n/);
  if (parts.at(-1) === '') parts.pop();
  yield* parts;
}

/** The entries of a YAML mapping, each with its line. */
async function yamlEntries(
  source: ImportSource,
): Promise<Array<{ key: string; value: unknown; line: number }>> {
  const text = await readAll(source);
  const where = name(source.path);
  if (text.trim() === '') throw invalid(where, 'the file is empty');
  // YAML is loaded only when a YAML file is imported.
  const { LineCounter, isMap, isScalar, parseDocument } = await import('yaml');
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const line = error.linePos?.[0]?.line ?? counter.linePos(error.pos[0]).line;
    throw invalid(`${where} line ${line}`, 'invalid YAML (or a key given twice)', { line });
  }
  if (!isMap(doc.contents))
    throw invalid(where, 'the file must contain a mapping of key: value entries');
  return doc.contents.items.map((pair) => {
    const keyNode = pair.key;
    const line = isScalar(keyNode) && keyNode.range ? counter.linePos(keyNode.range[0]).line : 1;
    const key = isScalar(keyNode) ? String(keyNode.value) : '';
    let value: unknown = null;
    if (pair.value !== null && pair.value !== undefined) {
      try {
        value = (pair.value as { toJS(doc: unknown, options: object): unknown }).toJS(doc, {
          maxAliasCount: YAML_MAX_ALIAS_COUNT,
        });
      } catch (err) {
        if (!(err instanceof ReferenceError)) throw err;
        throw invalid(`${where} line ${line}`, YAML_ALIAS_PROBLEM, { line });
      }
    }
    return { key, value, line };
  });
}

/**
 * The Variables of an import file, one at a time (Airflow 3 `variables import` semantics).
 *
 * @throws AirlockError `AIRLOCK_ERR_STORE_IMPORT_INVALID` naming the line of the first bad entry.
 * @example
 * ```ts
 * await store.importVariables(readVariableFile({ path: 'variables.json' }));
 * ```
 */
export async function* readVariableFile(source: ImportSource): AsyncGenerator<VariableImportEntry> {
  const format = source.format ?? fileFormatOf(source.path);
  const file = name(source.path);
  if (format === 'json') {
    for await (const { key, raw, line } of readJsonEntries(textChunks(source), file)) {
      const where = `${file} line ${line}`;
      let value: PyJson;
      try {
        // A string (most values) decodes the same in JS and Python, and JSON.parse is fast.
        value = raw.startsWith('"') ? (JSON.parse(raw) as string) : jsonLoads(raw);
      } catch (err) {
        if (err instanceof SyntaxError && raw.startsWith('"')) {
          throw invalid(where, `the value of \`${key}\` is not valid JSON`, { line, key });
        }
        if (!(err instanceof JsonDecodeError)) throw err;
        throw invalid(where, `the value of \`${key}\` is not valid JSON`, { line, key });
      }
      yield entry(key, variableValue(key, value, where), where);
    }
    return;
  }
  if (format === 'env') {
    for await (const { key, value, line } of envLines(source)) {
      yield { key, value, where: `${file} line ${line}` };
    }
    return;
  }
  for (const { key, value, line } of await yamlEntries(source)) {
    const where = `${file} line ${line}`;
    let decoded: PyJson;
    try {
      decoded = fromJsValue(value instanceof Date ? value.toISOString() : value);
    } catch {
      throw invalid(where, `the value of \`${key}\` cannot be stored as JSON`, { line, key });
    }
    yield entry(key, variableValue(key, decoded, where), where);
  }
}

/** One file entry as a Connection, with the local-filesystem backend's rules. */
function connectionOf(connId: string, value: unknown, where: string, envLine: boolean): Connection {
  try {
    if (typeof value === 'string') {
      // Airflow reads every .env value as a URI; airlock also reads a JSON value there, as
      // `connections export --file-format env --serialization-format json` writes it.
      if (envLine && value.trimStart().startsWith('{')) return Connection.fromJson(value, connId);
      return Connection.fromUri(value, connId);
    }
    const record = connectionFileFields(connId, value, (problem) => invalid(where, problem));
    return Connection.fromFields(record as ConnectionFields & { uri?: string }, connId);
  } catch (err) {
    if (!isAirlockError(err) || err.code === 'AIRLOCK_ERR_STORE_IMPORT_INVALID') throw err;
    // Connection errors name the field and never quote a value.
    throw invalid(where, err.message.replace(/^connection `[^`]*`: /, ''), { conn_id: connId });
  }
}

/**
 * The Connections of an import file (`connections import`), checked: a valid conn_id
 * (`^[\w.-]+$`, at most 200 characters), a conn_type, a parseable URI or fields.
 *
 * @throws AirlockError `AIRLOCK_ERR_STORE_IMPORT_INVALID` naming the entry (and the line for
 *   `.env` and YAML).
 * @example
 * ```ts
 * await store.importConnections(await readConnectionFile({ path: 'connections.yaml' }));
 * ```
 */
export async function readConnectionFile(source: ImportSource): Promise<ConnectionImportEntry[]> {
  const format = source.format ?? fileFormatOf(source.path);
  const file = name(source.path);
  let raw: Array<{ connId: string; value: unknown; where: string }>;
  if (format === 'env') {
    raw = [];
    for await (const { key, value, line } of envLines(source)) {
      raw.push({ connId: key, value, where: `${file} line ${line}` });
    }
  } else if (format === 'yaml') {
    raw = (await yamlEntries(source)).map(({ key, value, line }) => ({
      connId: key,
      value,
      where: `${file} line ${line} (connection \`${key}\`)`,
    }));
  } else {
    const text = await readAll(source);
    if (text.trim() === '') throw invalid(file, 'the file is empty');
    const parsed = safeJsonParse(text);
    if (!parsed.ok) {
      throw invalid(
        `${file} line ${parsed.position.line}`,
        `invalid JSON at column ${parsed.position.column}`,
        {
          line: parsed.position.line,
        },
      );
    }
    if (parsed.value === null || typeof parsed.value !== 'object' || Array.isArray(parsed.value)) {
      throw invalid(file, 'the file must contain an object of conn_id: connection entries');
    }
    // JSON.parse keeps the last of a repeated key; the entries are read again one by one, so
    // that a conn_id given twice is refused (by the import) instead of silently replaced.
    raw = [];
    for await (const { key, raw: valueText, line } of readJsonEntries(
      (async function* () {
        yield text;
      })(),
      file,
    )) {
      raw.push({
        connId: key,
        value: JSON.parse(valueText) as unknown,
        where: `${file} line ${line} (connection \`${key}\`)`,
      });
    }
  }
  return raw.map(({ connId, value, where }) => {
    if (!Connection.isValidConnId(connId)) {
      throw invalid(
        where,
        'the conn_id is not valid (letters, digits, `_`, `.` and `-`; at most 200 characters)',
      );
    }
    const connection = connectionOf(connId, value, where, format === 'env');
    if (!connection.connType) {
      throw invalid(where, 'the connection has no conn_type');
    }
    return { connId, connection, where };
  });
}

// --- export ----------------------------------------------------------------------------------

/** A text sink; the writer awaits it, so a slow file or pipe applies back-pressure. */
export type TextSink = (text: string) => Promise<void> | void;

/** How a text Python's `json.loads` could decode starts (after JSON whitespace). */
const JSON_START = /^[ \t\n\r]*[[{"\-0-9tfnNI]/;

/** How `variables export` writes one value (Airflow 3): decoded JSON, or the raw string. */
function exportedValue(record: VariableRecord): PyJson {
  let value: PyJson = record.value;
  // Only text that starts as JSON can decode (Python's json also reads NaN and Infinity): the
  // rest is written raw without paying for a failed parse.
  if (record.value !== null && JSON_START.test(record.value)) {
    try {
      const decoded = jsonLoads(record.value);
      // A value that decodes to a string is written raw, so that import stores it unchanged.
      if (typeof decoded !== 'string') value = decoded;
    } catch {
      value = record.value;
    }
  }
  if (record.description || (value instanceof Map && value.has('value'))) {
    return new Map<string, PyJson>([
      ['value', value],
      ['description', record.description],
    ]);
  }
  return value;
}

/**
 * Writes `airflow variables export`'s JSON (keys sorted, indent 4) from records in key order,
 * one entry at a time.
 *
 * @returns the number of Variables written.
 * @example
 * ```ts
 * await writeVariablesJson(store.variables(), (text) => out.write(text));
 * ```
 */
export async function writeVariablesJson(
  records: AsyncIterable<VariableRecord | readonly VariableRecord[]>,
  sink: TextSink,
): Promise<number> {
  let count = 0;
  // A page of records (what `Metastore.variablePages` yields) goes to the sink as one text.
  for await (const item of records) {
    const page: readonly VariableRecord[] = Array.isArray(item) ? item : [item as VariableRecord];
    let text = '';
    for (const record of page) {
      const value = pyJsonDumps(exportedValue(record), { indent: 4, sortKeys: true, level: 1 });
      text += `${count === 0 ? '{\n' : ',\n'}    ${jsonDumps(record.key)}: ${value}`;
      count++;
    }
    if (text !== '') await sink(text);
  }
  await sink(count === 0 ? '{}\n' : '\n}\n');
  return count;
}

/** `_connection_to_dict` of Airflow's CLI: the fields, `extra` as the raw string. */
function connectionDict(record: ConnectionRecord): Map<string, PyJson> {
  return new Map<string, PyJson>([
    ['conn_type', record.connType],
    ['description', record.description],
    ['login', record.login],
    ['password', record.password],
    ['host', record.host],
    ['port', record.port === null ? null : fromJsValue(record.port)],
    ['schema', record.schema],
    ['extra', record.extra],
  ]);
}

/** A stored Connection as the model (for its URI). */
export function connectionFromRecord(record: ConnectionRecord): Connection {
  return Connection.fromFields(
    {
      conn_type: record.connType,
      description: record.description,
      host: record.host,
      login: record.login,
      password: record.password,
      schema: record.schema,
      port: record.port,
      extra: record.extra,
    },
    record.connId,
  );
}

/**
 * Formats Connections as `airflow connections export` does.
 *
 * @param serialization For `.env` files: each value as a URI (default) or as JSON.
 * @example
 * ```ts
 * const text = await formatConnections(records, 'yaml');
 * ```
 */
export async function formatConnections(
  records: readonly ConnectionRecord[],
  format: FileFormat,
  serialization: 'uri' | 'json' = 'uri',
): Promise<string> {
  if (format === 'env') {
    return records
      .map((r) => {
        const value =
          serialization === 'json'
            ? jsonDumps(connectionDict(r))
            : connectionFromRecord(r).getUri();
        return `${r.connId}=${value}\n`;
      })
      .join('');
  }
  if (format === 'yaml') {
    const { stringify } = await import('yaml');
    const data: Record<string, unknown> = {};
    for (const r of records) {
      data[r.connId] = Object.fromEntries(
        [...connectionDict(r)].map(([k, v]) => [k, k === 'port' ? r.port : (v as string | null)]),
      );
    }
    return records.length === 0 ? '{}\n' : stringify(data, { sortMapEntries: true });
  }
  const dict = new Map<string, PyJson>(records.map((r) => [r.connId, connectionDict(r)]));
  return `${pyJsonDumps(dict, { indent: 2 })}\n`;
}
