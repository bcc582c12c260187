/**
 * @module metastore/database-url
 * The metastore's database URL: SQLAlchemy's forms, as Airflow's `sql_alchemy_conn` spells them,
 * read without loading any database driver (the configuration checks URLs at startup).
 *
 * - `sqlite:////abs/path.db` (four slashes: an absolute path), `sqlite:///relative.db` (relative
 *   to the working directory), `sqlite://` or `sqlite:///:memory:` (in memory, for tests);
 * - `postgresql://…`, `postgres://…` and SQLAlchemy's `postgresql+<driver>://…`
 *   (`+psycopg2`, `+psycopg`, `+pg8000`, `+asyncpg`), with libpq's query parameters
 *   (`sslmode`, `options=-c search_path=…`, `application_name`, `host=/socket/dir`, …).
 *
 * No message produced here quotes a URL: it may hold a password.
 */
import { isAbsolute, resolve } from 'node:path';
import { AirlockError } from '../errors.ts';

/** Where the metastore lives, once its URL is read. */
export type DatabaseTarget =
  | {
      readonly kind: 'sqlite';
      /** An absolute file path, or `:memory:`. */
      readonly path: string;
    }
  | {
      readonly kind: 'postgres';
      /** The URL with a plain `postgresql://` scheme, as `pg` reads it. */
      readonly connectionString: string;
    };

const SQLITE_SCHEME = /^sqlite(\+pysqlite)?:\/\//i;
const POSTGRES_SCHEME = /^(postgresql|postgres)(\+[a-z0-9_]+)?:\/\//i;

function invalid(problem: string): AirlockError {
  return new AirlockError('AIRLOCK_ERR_CONFIG_INVALID', `database URL: ${problem}`);
}

/**
 * The default metastore URL: a SQLite file in airlock's home.
 *
 * @example
 * ```ts
 * defaultDatabaseUrl('/home/me/airlock'); // 'sqlite:////home/me/airlock/airlock.db'
 * ```
 */
export function defaultDatabaseUrl(home: string): string {
  return `sqlite:///${resolve(home, 'airlock.db')}`;
}

/**
 * Reads a database URL.
 *
 * @param cwd The folder a relative SQLite path is relative to.
 * @throws AirlockError `AIRLOCK_ERR_CONFIG_INVALID` for an unsupported scheme or a malformed URL;
 *   the message names the problem and the scheme, never the URL.
 * @example
 * ```ts
 * parseDatabaseUrl('sqlite:////var/lib/airlock/airlock.db'); // { kind: 'sqlite', path: '/var/lib/airlock/airlock.db' }
 * parseDatabaseUrl('postgresql+psycopg2://u:p@db/airflow').kind; // 'postgres'
 * ```
 */
export function parseDatabaseUrl(url: string, cwd: string = process.cwd()): DatabaseTarget {
  const text = url.trim();
  if (SQLITE_SCHEME.test(text)) {
    const rest = text.replace(SQLITE_SCHEME, '');
    // SQLAlchemy: `sqlite://` alone is in memory; after the third slash comes the path.
    if (rest === '' || rest === '/' || rest === '/:memory:')
      return { kind: 'sqlite', path: ':memory:' };
    if (!rest.startsWith('/')) {
      throw invalid('a sqlite URL has no host: use sqlite:////absolute/path.db');
    }
    const raw = rest.slice(1).replace(/[?#].*$/, '');
    let path: string;
    try {
      path = decodeURIComponent(raw);
    } catch {
      throw invalid('the sqlite path has an invalid %-escape');
    }
    if (path === '') throw invalid('the sqlite URL names no file');
    return { kind: 'sqlite', path: isAbsolute(path) ? path : resolve(cwd, path) };
  }
  const pg = POSTGRES_SCHEME.exec(text);
  if (pg) {
    const connectionString = `postgresql://${text.slice(pg[0].length)}`;
    if (!URL.canParse(connectionString)) throw invalid('the postgresql URL cannot be parsed');
    return { kind: 'postgres', connectionString };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1];
  throw invalid(
    scheme === undefined
      ? 'it has no scheme; use sqlite:////path/to/airlock.db or postgresql://user:password@host/db'
      : `the scheme \`${scheme.toLowerCase()}\` is not supported; use sqlite:// or postgresql://`,
  );
}

/**
 * The URL with its password (in the authority or a `password=` parameter) replaced by `***`,
 * for `config show`, provenance and messages.
 *
 * @example
 * ```ts
 * redactDatabaseUrl('postgresql://app:s3cr3t@db:5432/airflow'); // 'postgresql://app:***@db:5432/airflow'
 * ```
 */
export function redactDatabaseUrl(url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@]*?):[^/?#]*@/i, '$1:***@')
    .replace(/([?&]password=)[^&#]*/gi, '$1***');
}
