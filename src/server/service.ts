/**
 * @module server/service
 * What the API and the pages do with Variables and Connections, in one place, so that both apply
 * the same role rules: a `viewer` gets names, descriptions and provenance and never a value
 * (`***` stands for a value that is set); an `editor` or `admin` reads values, except that lists
 * redact the values of sensitive names and never carry a password or an extra.
 */
import { connect } from 'node:net';
import { AirlockError, type ErrorCode, isAirlockError } from '../errors.ts';
import { MASK } from '../masking/masker.ts';
import type { ConnectionRecord, ListOptions, VariableRecord } from '../metastore/metastore.ts';
import { CONNECTION_FIELD_NAMES, Connection, type ConnectionFields } from '../model/connection.ts';
import { can } from './auth/roles.ts';
import type { AppDeps, AuthUser } from './context.ts';

/** A Variable as the API returns it (Airflow's `VariableSchema`). */
export interface VariableView {
  key: string;
  /** The value; `***` when the role may not read it, or (in lists) when the name is sensitive. */
  value: string;
  description: string | null;
  /** Lists only: the error code of a row no configured key decrypts (`value` is then `''`). */
  unreadable?: ErrorCode;
}

/** A Connection as the API returns it (Airflow's `ConnectionSchema`). */
export interface ConnectionView {
  connection_id: string;
  conn_type: string;
  description: string | null;
  host: string | null;
  login: string | null;
  schema: string | null;
  port: number | null;
  /** Only from `get`, only to roles that read secrets; `***` otherwise when set. */
  password?: string | null;
  /** Only from `get`: the JSON text, or `***` for roles that may not read it. */
  extra?: string | null;
  /** Lists only: the error code of a row whose password or extra no configured key decrypts. */
  unreadable?: ErrorCode;
}

/** The conn_id rule of Airflow's API (`^[\w.-]+$`, at most 250 characters). */
const CONN_ID = /^[\w.-]{1,250}$/;

/** A Variable record as `user` may see it. */
export function variableView(
  deps: AppDeps,
  user: AuthUser,
  record: VariableRecord,
  inList: boolean,
): VariableView {
  const readable =
    can(user.role, 'read-secrets') && !(inList && deps.masker.isSensitive(record.key));
  if (record.unreadable) {
    return {
      key: record.key,
      value: '',
      description: record.description,
      unreadable: record.unreadable.code,
    };
  }
  return {
    key: record.key,
    value: readable ? (record.value ?? '') : MASK,
    description: record.description,
  };
}

/** A Connection record as `user` may see it. */
export function connectionView(
  user: AuthUser,
  record: ConnectionRecord,
  inList: boolean,
): ConnectionView {
  const view: ConnectionView = {
    connection_id: record.connId,
    conn_type: record.connType,
    description: record.description,
    host: record.host,
    login: record.login,
    schema: record.schema,
    port: record.port,
  };
  if (record.unreadable) view.unreadable = record.unreadable.code;
  if (inList) return view;
  const readable = can(user.role, 'read-secrets');
  view.password = record.password ? (readable ? record.password : MASK) : null;
  view.extra = record.extra ? (readable ? record.extra : MASK) : null;
  return view;
}

/** Every Variable record; lists pass `onUnreadable: 'mark'` so one bad row hides no other. */
export async function allVariables(
  deps: AppDeps,
  options: ListOptions = {},
): Promise<VariableRecord[]> {
  const out: VariableRecord[] = [];
  for await (const record of deps.metastore.variables(options)) out.push(record);
  return out;
}

/** Every Connection record; lists pass `onUnreadable: 'mark'` (an export must not). */
export async function allConnections(
  deps: AppDeps,
  options: ListOptions = {},
): Promise<ConnectionRecord[]> {
  const out: ConnectionRecord[] = [];
  for await (const record of deps.metastore.connections(options)) out.push(record);
  return out;
}

/**
 * Writes a Variable's value and description (`null` clears a description; `setVariable` alone
 * keeps the old one when given `null`).
 */
export async function putVariable(
  deps: AppDeps,
  key: string,
  value: string,
  description: string | null,
  existing: VariableRecord | undefined,
): Promise<void> {
  await deps.metastore.setVariable(key, value, { description });
  if (description === null && existing?.description) {
    await deps.metastore.importVariables(
      [{ key, value, description: '', where: `variable \`${key}\`` }],
      { onExisting: 'overwrite' },
    );
  }
}

/** A Variable record, or `AIRLOCK_ERR_HTTP_NOT_FOUND`. */
export async function variableOrThrow(deps: AppDeps, key: string): Promise<VariableRecord> {
  const record = await deps.metastore.getVariableRecord(key);
  if (!record) {
    throw new AirlockError(
      'AIRLOCK_ERR_HTTP_NOT_FOUND',
      `the metastore has no variable \`${key}\``,
      { details: { key } },
    );
  }
  return record;
}

/** A Connection record, or `AIRLOCK_ERR_HTTP_NOT_FOUND`. */
export async function connectionOrThrow(deps: AppDeps, connId: string): Promise<ConnectionRecord> {
  const record = await deps.metastore.getConnection(connId);
  if (!record) {
    throw new AirlockError(
      'AIRLOCK_ERR_HTTP_NOT_FOUND',
      `the metastore has no connection \`${connId}\``,
      { details: { conn_id: connId } },
    );
  }
  return record;
}

/** The editable fields of a Connection: the model's fields, with `extra` as JSON text. */
export type ConnectionInput = Omit<ConnectionFields, 'extra'> & {
  extra?: string | null | undefined;
};

/** The editable fields' names: the model's. */
export const CONNECTION_FIELDS = CONNECTION_FIELD_NAMES;

/** Builds a Connection from input fields (Airflow's rules: port, extra JSON). */
export function connectionFromInput(connId: string, input: ConnectionInput): Connection {
  if (!CONN_ID.test(connId)) {
    throw new AirlockError(
      'AIRLOCK_ERR_CONN_ID_INVALID',
      'a connection_id is 1 to 250 letters, digits, `_`, `.` or `-`',
    );
  }
  if (!input.conn_type) {
    throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', '`conn_type` is required');
  }
  const port = input.port === '' ? null : input.port;
  const extra = input.extra === '' ? null : input.extra;
  return Connection.fromFields(
    {
      conn_type: input.conn_type,
      description: input.description ?? null,
      host: input.host || null,
      login: input.login || null,
      password: input.password || null,
      schema: input.schema || null,
      port: port ?? null,
      extra: extra ?? null,
    },
    connId,
  );
}

/** Stores `connection` under `connId`, replacing an existing one (keeps its `created_at`). */
export async function replaceConnection(
  deps: AppDeps,
  connId: string,
  connection: Connection,
): Promise<void> {
  await deps.metastore.importConnections(
    [{ connId, connection, where: `connection \`${connId}\`` }],
    {
      onExisting: 'overwrite',
    },
  );
}

/** The input fields of a stored Connection. */
export function inputOf(record: ConnectionRecord): ConnectionInput {
  return {
    conn_type: record.connType,
    description: record.description,
    host: record.host,
    login: record.login,
    password: record.password,
    schema: record.schema,
    port: record.port,
    extra: record.extra,
  };
}

/** Default ports by connection type, for the reachability test. */
const DEFAULT_PORTS: Readonly<Record<string, number>> = {
  postgres: 5432,
  mysql: 3306,
  mssql: 1433,
  oracle: 1521,
  redis: 6379,
  mongo: 27017,
  http: 80,
  https: 443,
  ftp: 21,
  sftp: 22,
  ssh: 22,
  smtp: 25,
  vertica: 5433,
  trino: 8080,
  presto: 8080,
  snowflake: 443,
};

/** What a connection test found (Airflow's `ConnectionTestResponse`). */
export interface ConnectionTestResult {
  status: boolean;
  message: string;
}

/**
 * Tests a Connection: it must parse under Airflow's rules and, when it names a host, the host's
 * port must accept a TCP connection within `timeoutMs`. (airlock has no provider hooks, so this
 * is a reachability check, not a sign-in; the message says so.)
 */
export async function testConnection(
  connection: Connection,
  timeoutMs = 3000,
): Promise<ConnectionTestResult> {
  const host = connection.host;
  const type = connection.connType ?? '';
  if (!host)
    return { status: true, message: 'The connection is valid (it names no host to reach).' };
  const port = connection.port ?? DEFAULT_PORTS[type];
  if (port === undefined) {
    return {
      status: false,
      message: `The connection is valid, but it has no port and conn_type \`${type}\` has no default port to test.`,
    };
  }
  const target = host.includes(':') && !host.startsWith('[') ? host : host.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = connect({ host: target, port, timeout: timeoutMs });
    const done = (result: ConnectionTestResult) => {
      socket.destroy();
      resolve(result);
    };
    socket.once('connect', () =>
      done({ status: true, message: `Connected to ${host}:${port} (TCP reachability only).` }),
    );
    socket.once('timeout', () =>
      done({ status: false, message: `${host}:${port} did not answer within ${timeoutMs} ms.` }),
    );
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done({ status: false, message: `Cannot reach ${host}:${port} (${err.code ?? 'error'}).` }),
    );
  });
}

/** A Connection as given to the test endpoint: fields, or a stored/resolved connection_id. */
export async function connectionForTest(
  deps: AppDeps,
  body: Record<string, unknown>,
): Promise<Connection> {
  const connId = typeof body.connection_id === 'string' ? body.connection_id : 'test';
  if (body.conn_type === undefined && typeof body.connection_id === 'string') {
    const resolver = await deps.runtime.resolver();
    const found = await resolver.getConnection(connId);
    if (!found) {
      throw new AirlockError(
        'AIRLOCK_ERR_HTTP_NOT_FOUND',
        `no source defines connection \`${connId}\``,
      );
    }
    return found.value;
  }
  const input: ConnectionInput = {};
  for (const field of CONNECTION_FIELDS) {
    const value = body[field];
    if (value === undefined || value === null) continue;
    if (field === 'port' && typeof value === 'number') input.port = value;
    else if (typeof value === 'string') input[field] = value;
    else throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', `\`${field}\` must be a string`);
  }
  return connectionFromInput(CONN_ID.test(connId) ? connId : 'test', input);
}

/** Whether an error is a coded one whose message may be shown. */
export function messageOf(err: unknown): string {
  return isAirlockError(err) ? err.message : 'unexpected error';
}
