/**
 * @module metastore/store-errors
 * Database errors reduced to coded ones that quote no value (SQLite's codes, PostgreSQL's
 * SQLSTATE, network codes), and the errors of an import's source, passed on as they are.
 */
import { AirlockError, isAirlockError } from '../errors.ts';

/** Errors of an import's source (a file that does not parse): passed on as they are. */
const sourceErrors = new WeakSet<object>();

/** Iterates `entries`, marking whatever they throw as the source's error, not the database's. */
export async function* fromSource<T>(entries: AsyncIterable<T> | Iterable<T>): AsyncGenerator<T> {
  try {
    yield* entries;
  } catch (err) {
    if (err !== null && typeof err === 'object') sourceErrors.add(err);
    throw err;
  }
}

const SQLITE_CODES: Readonly<Record<number, string>> = {
  3: 'SQLITE_PERM',
  5: 'SQLITE_BUSY',
  6: 'SQLITE_LOCKED',
  8: 'SQLITE_READONLY',
  10: 'SQLITE_IOERR',
  11: 'SQLITE_CORRUPT',
  13: 'SQLITE_FULL',
  14: 'SQLITE_CANTOPEN',
  26: 'SQLITE_NOTADB',
};
const SQLSTATE_WORDS: Readonly<Record<string, string>> = {
  '28P01': 'password authentication failed',
  '28000': 'the server rejected the user',
  '3D000': 'the database does not exist',
  '3F000': 'the schema does not exist',
  '42P01': 'a table is missing (run `airlock db migrate`)',
  '42501': 'permission denied',
  '53300': 'too many connections',
  '57P01': 'the server is shutting down',
  '57P03': 'the server is starting up',
  '25006': 'the transaction is read-only',
  '40001': 'a concurrent transaction conflicted (retry)',
  '40P01': 'a deadlock was detected (retry)',
  '23505': 'a unique key already exists',
};
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EACCES',
  'ENOENT',
]);

type Classified = { kind: 'conflict' | 'unavailable' | 'failed'; reason: string };

/** Reduces a database error to a kind and a reason that quotes no value. */
export function classify(err: unknown): Classified {
  const e = (err ?? {}) as {
    code?: unknown;
    errcode?: unknown;
    errstr?: unknown;
    message?: unknown;
    name?: unknown;
  };
  if (typeof e.errcode === 'number') {
    // node:sqlite: SQLite's own messages name tables and columns, never bound values.
    const primary = e.errcode & 0xff;
    const message = typeof e.message === 'string' ? e.message : String(e.errstr ?? 'error');
    if (primary === 19 && (e.errcode === 2067 || e.errcode === 1555)) {
      return { kind: 'conflict', reason: message };
    }
    const name = SQLITE_CODES[primary];
    if (name) return { kind: 'unavailable', reason: `${message} (${name})` };
    return { kind: 'failed', reason: `${message} (SQLite code ${e.errcode})` };
  }
  if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) {
    // PostgreSQL: the SQLSTATE only; the server's message may quote a value.
    const words = SQLSTATE_WORDS[e.code];
    const reason = words ? `${words} (SQLSTATE ${e.code})` : `SQLSTATE ${e.code}`;
    if (e.code === '23505') return { kind: 'conflict', reason };
    if (/^(08|28|3D|3F|53|57)/.test(e.code)) return { kind: 'unavailable', reason };
    return { kind: 'failed', reason };
  }
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) {
    return { kind: 'unavailable', reason: e.code };
  }
  const message = typeof e.message === 'string' ? e.message : '';
  if (/timeout|terminated|connect/i.test(message)) {
    return { kind: 'unavailable', reason: 'the connection failed or timed out' };
  }
  const name = typeof e.name === 'string' ? e.name : typeof err;
  return { kind: 'failed', reason: `unexpected ${name}` };
}

/**
 * Refuses text that UTF-8 cannot hold: a lone UTF-16 surrogate would be replaced by U+FFFD on

/** A database error (or an import source's) as the coded error a caller sees. */
export function storeError(err: unknown, url: string, action: string): unknown {
  if (isAirlockError(err)) return err;
  if (err !== null && typeof err === 'object' && sourceErrors.has(err)) return err;
  const { kind, reason } = classify(err);
  const code =
    kind === 'conflict'
      ? 'AIRLOCK_ERR_STORE_CONFLICT'
      : kind === 'unavailable'
        ? 'AIRLOCK_ERR_STORE_UNAVAILABLE'
        : 'AIRLOCK_ERR_STORE_QUERY_FAILED';
  return new AirlockError(code, `metastore (${url}): cannot ${action}: ${reason}`, {
    details: { database: url },
  });
}

/**
 * A database driver's own error (node:sqlite's, or a PostgreSQL server's or connection's) as a
 * coded store error; anything else is not a database error and gives `undefined`. For callers
 * that meet an error no store method mapped (the server's and the CLI's last resort), so that a
 * database outage or conflict is reported as one, not as a bug.
 */
export function databaseError(err: unknown, url: string, action: string): AirlockError | undefined {
  if (err === null || typeof err !== 'object' || isAirlockError(err)) return undefined;
  const e = err as { errcode?: unknown; code?: unknown; severity?: unknown; message?: unknown };
  const sqlite = typeof e.errcode === 'number';
  const postgres = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && 'severity' in e;
  const lost =
    typeof e.message === 'string' &&
    /^Connection terminated|^Client has encountered a connection error/.test(e.message);
  if (!sqlite && !postgres && !lost) return undefined;
  return storeError(err, url, action) as AirlockError;
}

export function connectionExists(connId: string): AirlockError {
  return new AirlockError(
    'AIRLOCK_ERR_STORE_CONFLICT',
    `A connection with conn_id \`${connId}\` already exists in the metastore; delete it first to replace it`,
    { details: { conn_id: connId } },
  );
}

/**
 * The error of an operation that met rows it cannot decrypt: every row named (names only).
 *
 * @example
 * ```ts
 * throw unreadableRowsError(['variable `a`'], 'nothing was exported');
 * ```
 */
export function unreadableRowsError(names: readonly string[], outcome: string): AirlockError {
  return new AirlockError(
    'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
    `${names.length} metastore ${names.length === 1 ? 'field' : 'fields'} cannot be decrypted with the configured Fernet keys: ${names.join(', ')}; ${outcome} (add the key they were written with as \`new,old\`, or delete or set those rows again)`,
    { details: { count: names.length } },
  );
}
