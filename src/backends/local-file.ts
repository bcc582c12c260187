/**
 * @module backends/local-file
 * Airflow's `LocalFilesystemBackend`: Variables and Connections kept in `.env`, `.json` or
 * `.yaml`/`.yml` files. Like Airflow, files are read again on every lookup, so an edit takes
 * effect at once; a file with a syntax error rejects every lookup in it, with the line at fault.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { z } from 'zod';
import { AirlockError } from '../errors.ts';
import { connectionFileFields } from '../model/connection-file-entry.ts';
import { safeJsonParse } from '../util/json.ts';
import { YAML_ALIAS_PROBLEM, YAML_MAX_ALIAS_COUNT } from '../util/yaml.ts';
import { parseOptions } from './_options.ts';
import type { BackendEntry, SecretKind, SecretsBackend } from './backend.ts';

/** The short name of this backend. */
export const BACKEND_NAME = 'local-file' as const;

/** Airflow's `LocalFilesystemBackend` kwargs. */
export const localFileOptionsSchema = z.strictObject({
  /**
   * File with Variables (`.env`, `.json`, `.yaml`, `.yml`); `null` or empty: no variables here.
   * @default null
   */
  variables_file_path: z.string().nullable().default(null),
  /**
   * File with Connections; `null` or empty: no connections here.
   * @default null
   */
  connections_file_path: z.string().nullable().default(null),
  /**
   * File with configuration values (Airflow 3.x); accepted for compatibility, not read yet.
   * @default null
   */
  configs_file_path: z.string().nullable().default(null),
});

/** Options of {@link createLocalFileBackend}. */
export type LocalFileBackendOptions = z.input<typeof localFileOptionsSchema>;

type Entries = Map<string, unknown[]>;

function parseError(path: string, line: number, problem: string): AirlockError {
  // The problem text never quotes the line: it may hold a secret.
  return new AirlockError(
    'AIRLOCK_ERR_BACKEND_FILE_PARSE',
    `local-file: \`${path}\` line ${line}: ${problem}`,
    { details: { path, line } },
  );
}

function parseEnvFile(path: string, content: string): Entries {
  const entries: Entries = new Map();
  const lines = content.split(/\r\n|\r|\n/);
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, index) => {
    const lineNo = index + 1;
    // Airflow skips only truly empty lines and `\s*#` comments; no trimming, no quoting.
    if (line === '' || /^\s*#/.test(line)) return;
    const eq = line.indexOf('=');
    if (eq === -1) {
      throw parseError(path, lineNo, 'the line should contain at least one equal sign ("=")');
    }
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === '') throw parseError(path, lineNo, 'the key is empty');
    if (value === '') throw parseError(path, lineNo, 'the value is empty');
    const list = entries.get(key) ?? [];
    list.push(value);
    entries.set(key, list);
  });
  return entries;
}

function toEntries(path: string, parsed: unknown): Entries {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw parseError(path, 1, 'the file should contain an object');
  }
  return new Map(Object.entries(parsed).map(([k, v]) => [k, [v]]));
}

async function parseFile(path: string): Promise<Entries> {
  const ext = extname(path).slice(1).toLowerCase();
  if (!['env', 'json', 'yaml', 'yml'].includes(ext)) {
    throw new AirlockError(
      'AIRLOCK_ERR_BACKEND_FILE_PARSE',
      `local-file: \`${path}\` has an unsupported extension; use .env, .json, .yaml or .yml`,
      { details: { path } },
    );
  }
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new AirlockError(
      'AIRLOCK_ERR_BACKEND_FILE_MISSING',
      `local-file: cannot read \`${path}\` (${code})`,
      { details: { path, errno: code } },
    );
  }
  if (ext === 'env') return parseEnvFile(path, content);
  if (content === '') throw parseError(path, 1, 'the file is empty');
  if (ext === 'json') {
    const parsed = safeJsonParse(content);
    if (!parsed.ok) {
      throw parseError(
        path,
        parsed.position.line,
        `invalid JSON at column ${parsed.position.column}`,
      );
    }
    return toEntries(path, parsed.value);
  }
  // YAML is loaded only when a YAML file is used: it is the only caller of the parser.
  const { parseDocument } = await import('yaml');
  const doc = parseDocument(content, { prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    throw parseError(path, (first.linePos?.[0]?.line ?? 1) as number, 'invalid YAML');
  }
  let parsed: unknown;
  try {
    parsed = doc.toJS({ maxAliasCount: YAML_MAX_ALIAS_COUNT });
  } catch (err) {
    if (!(err instanceof ReferenceError)) throw err;
    throw parseError(path, 1, YAML_ALIAS_PROBLEM);
  }
  return toEntries(path, parsed);
}

function single(path: string, key: string, values: unknown[], what: string): unknown {
  if (values.length !== 1) {
    throw new AirlockError(
      'AIRLOCK_ERR_BACKEND_FILE_PARSE',
      `local-file: \`${path}\` has ${values.length} values for the ${what} \`${key}\``,
      { details: { path, key } },
    );
  }
  return values[0];
}

/** A Variable's file value as a string: non-strings are kept as JSON, `null` means absent. */
function variableValue(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value);
}

function connectionValue(path: string, connId: string, value: unknown): string {
  if (typeof value === 'string') return value;
  const fail = (problem: string) =>
    new AirlockError(
      'AIRLOCK_ERR_BACKEND_FILE_PARSE',
      `local-file: \`${path}\` connection \`${connId}\` ${problem}`,
      { details: { path, conn_id: connId } },
    );
  const record = connectionFileFields(connId, value, fail);
  return JSON.stringify(record);
}

/**
 * Creates the local-file backend.
 *
 * @example
 * ```ts
 * const files = createLocalFileBackend({ variables_file_path: '/etc/airlock/variables.yaml' });
 * await files.getVariable('hello');
 * ```
 */
export function createLocalFileBackend(options: LocalFileBackendOptions = {}): SecretsBackend {
  const opts = parseOptions(BACKEND_NAME, localFileOptionsSchema, options);
  const variablesPath = opts.variables_file_path || undefined;
  const connectionsPath = opts.connections_file_path || undefined;

  async function loadVariable(key: string): Promise<string | undefined> {
    if (!variablesPath) return undefined;
    const entries = await parseFile(variablesPath);
    // Airflow rejects the whole file when any key repeats, not only the key asked for.
    for (const [k, values] of entries) single(variablesPath, k, values, 'variable');
    const values = entries.get(key);
    return values ? variableValue(values[0]) : undefined;
  }

  async function loadConnection(connId: string): Promise<string | undefined> {
    if (!connectionsPath) return undefined;
    const entries = await parseFile(connectionsPath);
    let found: string | undefined;
    // Every entry is checked, as Airflow's load_connections_dict builds them all.
    for (const [k, values] of entries) {
      const value = connectionValue(
        connectionsPath,
        k,
        single(connectionsPath, k, values, 'connection'),
      );
      if (k === connId) found = value;
    }
    return found;
  }

  return {
    name: BACKEND_NAME,
    getVariable: (key) => loadVariable(key),
    getConnectionValue: (connId) => loadConnection(connId),
    async listVariableKeys() {
      if (!variablesPath) return [];
      const entries = await parseFile(variablesPath);
      return [...entries.keys()].filter(
        (key) => variableValue(entries.get(key)?.[0]) !== undefined,
      );
    },
    locate(kind: SecretKind, id: string) {
      const path = kind === 'variable' ? variablesPath : connectionsPath;
      return path ? `${path}#${id}` : undefined;
    },
    describe() {
      return { type: BACKEND_NAME, ...opts };
    },
  };
}

/** This backend in the registry (`names.ts` loads it on demand, `registry.ts` eagerly). */
export const backendEntry: BackendEntry = {
  optionsSchema: localFileOptionsSchema as BackendEntry['optionsSchema'],
  create: createLocalFileBackend as BackendEntry['create'],
};
