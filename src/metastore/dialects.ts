/**
 * @module metastore/dialects
 * Kysely dialects for the metastore: SQLite through Node's built-in `node:sqlite` (no native
 * addon to build), and PostgreSQL through `pg`, loaded only when a PostgreSQL URL is configured.
 *
 * The SQLite driver keeps one connection per process, guarded by a mutex, and opens write
 * transactions with `BEGIN IMMEDIATE`: the write lock is taken up front, so two processes that
 * write at once wait for each other (up to the busy timeout) instead of one failing with
 * `SQLITE_BUSY` when its read lock cannot be upgraded. The database runs in WAL mode, so readers
 * never wait for a writer.
 *
 * The prepared reads of one event-loop turn (the API's `GET` of a value, under load several
 * requests' worth) share one read transaction: the first opens it, and it ends when the turn
 * does (or before any other statement of the connection: a write, a transaction, a Kysely
 * query). A read outside a transaction takes and drops SQLite's WAL read lock, two `fcntl`
 * system calls, which on a virtual machine cost more than the read itself; within a turn they
 * are taken once. A write made elsewhere (another process) is seen from the next turn, as if it
 * had committed a moment later; a write of this process is seen at once.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import {
  CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  SelectQueryNode,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type TransactionSettings,
} from 'kysely';
import type { DatabaseTarget } from './database-url.ts';

/** Options of {@link NodeSqliteDialect}. */
export interface NodeSqliteDialectOptions {
  /** An absolute file path, or `:memory:`. */
  path: string;
  /**
   * How long a statement waits for another process's write lock before failing, in ms.
   * @default 30000
   */
  busyTimeoutMs?: number;
}

/** A promise-based mutex: one holder at a time, in arrival order. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();
  /** Holders and waiters. */
  #users = 0;

  /** Whether nobody holds the lock or waits for it. */
  get idle(): boolean {
    return this.#users === 0;
  }

  /** Waits for the lock; the returned function releases it (once). */
  async lock(): Promise<() => void> {
    this.#users++;
    let resolveNext!: () => void;
    const next = new Promise<void>((resolve) => {
      resolveNext = resolve;
    });
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#users--;
      resolveNext();
    };
    const previous = this.#tail;
    this.#tail = previous.then(() => next);
    await previous;
    return release;
  }
}

/**
 * Reads by SQL that is prepared once per connection and reused with new parameters: the hot
 * reads (the API's variable GET) skip Kysely's query building and compiling. The SQL comes from
 * Kysely once (so it has the dialect's quoting and placeholders); `name` names it where the
 * database prepares statements by name (PostgreSQL).
 */
export interface PreparedReads {
  /** The first row `sql` yields with `params`, or `undefined`. */
  first<R>(name: string, sql: string, params: readonly unknown[]): Promise<R | undefined>;
}

/** What {@link createDialect} opens: the Kysely dialect and its prepared reads. */
export interface OpenedDialect {
  readonly dialect: Dialect;
  readonly reads: PreparedReads;
}

/** Statements prepared once and reused (batched inserts repeat the same SQL). */
const STATEMENT_CACHE_SIZE = 64;

/** `node:sqlite` binds numbers, bigints, strings, bytes and null; booleans become 0/1. */
function bindable(value: unknown): unknown {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return value.toISOString();
  return value;
}

/** A statement's column names, and whether a row of them can be a plain `{}`. */
interface RowShape {
  readonly columns: readonly string[];
  /** `false` when a column is named `__proto__` (which would set a `{}`'s prototype). */
  readonly plain: boolean;
}

/** What the driver needs to know of a cached statement, asked once (`columns()` is not free). */
interface StatementInfo {
  /** Its row shape (see `rowShape`); `null` when it yields no columns. */
  readonly shape: RowShape | null;
  /** Whether it only reads (a `SELECT`): only those run in the turn's read transaction. */
  readonly read: boolean;
}

/**
 * Turns `statement` to return arrays, and gives its row shape; `null` (and the statement left as
 * it was) when it yields no columns. node:sqlite builds a row object through V8's API a property
 * at a time, which costs more than a point lookup itself; the rows are built in JS instead.
 */
function rowShape(statement: StatementSync): RowShape | null {
  const columns = statement.columns().map((column) => column.name);
  if (columns.length === 0) return null;
  statement.setReturnArrays(true);
  return { columns, plain: !columns.includes('__proto__') };
}

/** The row of `values` in `shape`. */
function toRow<R>(shape: RowShape, values: readonly unknown[]): R {
  const row: Record<string, unknown> = shape.plain ? {} : Object.create(null);
  const { columns } = shape;
  for (let i = 0; i < columns.length; i++) row[columns[i] as string] = values[i];
  return row as R;
}

class NodeSqliteConnection implements DatabaseConnection {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  readonly #infos = new WeakMap<StatementSync, StatementInfo>();

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  #prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement) {
      // Refresh its place in the LRU order.
      this.#statements.delete(sql);
    } else {
      statement = this.#db.prepare(sql);
      if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
        const oldest = this.#statements.keys().next().value;
        if (oldest !== undefined) this.#statements.delete(oldest);
      }
    }
    this.#statements.set(sql, statement);
    return statement;
  }

  /** Whether the reads of this turn's {@link first} calls share an open read transaction. */
  #snapshot = false;

  /** Ends the turn's read transaction, if any (at the end of the turn, or before a statement). */
  readonly #endSnapshot = (): void => {
    if (!this.#snapshot) return;
    this.#snapshot = false;
    try {
      this.#prepare('COMMIT').run();
    } catch {
      // A read-only transaction has nothing to lose: make sure it is gone.
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
    }
  };

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    this.#endSnapshot();
    const statement = this.#prepare(compiledQuery.sql);
    const params = compiledQuery.parameters.map(bindable) as never[];
    // A statement that yields columns (SELECT, PRAGMA, … RETURNING) is read with all(), as
    // arrays made into rows here (see `rowShape`).
    const { shape } = this.#infoOf(statement);
    if (shape) {
      const arrays = statement.all(...params) as unknown as unknown[][];
      const rows: R[] = new Array(arrays.length);
      for (let i = 0; i < arrays.length; i++) rows[i] = toRow<R>(shape, arrays[i] as unknown[]);
      return { rows };
    }
    const { changes, lastInsertRowid } = statement.run(...params);
    return {
      numAffectedRows: BigInt(changes),
      insertId: BigInt(lastInsertRowid),
      rows: [],
    };
  }

  /**
   * The first row of a statement (a SELECT, or a write with `RETURNING`), through the statement
   * cache; a SELECT runs in this turn's read transaction (opened by the first read of the turn;
   * see the module), a write on its own, after that transaction ends.
   */
  first<R>(sql: string, params: readonly unknown[]): R | undefined {
    const statement = this.#prepare(sql);
    const { shape, read } = this.#infoOf(statement);
    if (!read) {
      // A prepared write (`INSERT … RETURNING`) commits on its own, never in the snapshot.
      this.#endSnapshot();
    } else if (!this.#snapshot && !this.#db.isTransaction) {
      this.#prepare('BEGIN').run();
      this.#snapshot = true;
      setImmediate(this.#endSnapshot);
    }
    const values = statement.get(...(params.map(bindable) as never[]));
    if (values === undefined || !shape) return values as R | undefined;
    return toRow<R>(shape, values as unknown as unknown[]);
  }

  /** What the driver needs to know of a cached statement (see {@link StatementInfo}). */
  #infoOf(statement: StatementSync): StatementInfo {
    let info = this.#infos.get(statement);
    if (info === undefined) {
      info = { shape: rowShape(statement), read: /^\s*select\b/i.test(statement.sourceSQL) };
      this.#infos.set(statement, info);
    }
    return info;
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(compiledQuery.query)) {
      throw new Error('the node:sqlite driver streams SELECT queries only');
    }
    this.#endSnapshot();
    const statement = this.#db.prepare(compiledQuery.sql);
    const params = compiledQuery.parameters.map(bindable) as never[];
    for (const row of statement.iterate(...params)) yield { rows: [row as R] };
  }

  close(): void {
    this.#endSnapshot();
    this.#statements.clear();
    this.#db.close();
  }
}

/** One open database file, shared by every dialect of this process that opens the same path. */
interface SharedSqlite {
  readonly connection: NodeSqliteConnection;
  readonly mutex: Mutex;
  refs: number;
}

/**
 * Open files by path. Two stores of one process on the same file share one connection and one
 * mutex: with two connections, one would wait for the other's write lock in SQLite's busy
 * handler, which sleeps synchronously and so would block the very event loop the other needs to
 * finish its transaction.
 */
const openFiles = new Map<string, SharedSqlite>();

async function openSqlite(path: string, busyTimeoutMs: number): Promise<NodeSqliteConnection> {
  // Loaded here, not at the top: only SQLite users pay for it.
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(path, { timeout: busyTimeoutMs, enableForeignKeyConstraints: true });
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
    db.exec('PRAGMA foreign_keys = ON');
    // Freed space is zeroed, so a value replaced in place (a plaintext row that key rotation
    // encrypts) does not linger in the file.
    db.exec('PRAGMA secure_delete = ON');
    // Readers never block the writer and the writer never blocks readers; the mode is stored
    // in the file, so every process that opens it uses WAL.
    db.exec('PRAGMA journal_mode = WAL');
    // Room for the indexes of a large table (32 MiB, used as pages are read; the default is
    // 2 MiB): a list's `COUNT(*)` walks the key index, which then stays in memory.
    db.exec('PRAGMA cache_size = -32768');
  } catch (err) {
    db.close();
    throw err;
  }
  return new NodeSqliteConnection(db);
}

class NodeSqliteDriver implements Driver {
  readonly #options: Required<NodeSqliteDialectOptions>;
  #shared: SharedSqlite | undefined;
  #release: (() => void) | undefined;

  constructor(options: NodeSqliteDialectOptions) {
    this.#options = { busyTimeoutMs: 30_000, ...options };
  }

  async init(): Promise<void> {
    const { path, busyTimeoutMs } = this.#options;
    const existing = path === ':memory:' ? undefined : openFiles.get(path);
    if (existing) {
      existing.refs++;
      this.#shared = existing;
      return;
    }
    const shared = {
      connection: await openSqlite(path, busyTimeoutMs),
      mutex: new Mutex(),
      refs: 1,
    };
    // Another init of the same path may have finished while this one opened its file.
    const raced = path === ':memory:' ? undefined : openFiles.get(path);
    if (raced) {
      shared.connection.close();
      raced.refs++;
      this.#shared = raced;
      return;
    }
    if (path !== ':memory:') openFiles.set(path, shared);
    this.#shared = shared;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const shared = this.#shared;
    if (!shared) throw new Error('the node:sqlite driver is not initialised');
    this.#release = await shared.mutex.lock();
    return shared.connection;
  }

  async beginTransaction(
    connection: DatabaseConnection,
    settings: TransactionSettings,
  ): Promise<void> {
    // A read-only transaction takes no lock up front; anything else takes the write lock now.
    const begin = settings.accessMode === 'read only' ? 'BEGIN DEFERRED' : 'BEGIN IMMEDIATE';
    await connection.executeQuery(CompiledQuery.raw(begin));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('COMMIT'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('ROLLBACK'));
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`SAVEPOINT "${name.replaceAll('"', '""')}"`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(
      CompiledQuery.raw(`ROLLBACK TO SAVEPOINT "${name.replaceAll('"', '""')}"`),
    );
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(
      CompiledQuery.raw(`RELEASE SAVEPOINT "${name.replaceAll('"', '""')}"`),
    );
  }

  async releaseConnection(): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  /**
   * A prepared read. When nobody holds or waits for the connection (no transaction is open on
   * it), the read runs at once, synchronously, as no other code can run before it ends; else it
   * waits its turn like any query.
   */
  async first<R>(sql: string, params: readonly unknown[]): Promise<R | undefined> {
    const shared = this.#shared;
    if (!shared) throw new Error('the node:sqlite driver is not initialised');
    if (shared.mutex.idle) return shared.connection.first<R>(sql, params);
    const release = await shared.mutex.lock();
    try {
      return shared.connection.first<R>(sql, params);
    } finally {
      release();
    }
  }

  async destroy(): Promise<void> {
    const shared = this.#shared;
    this.#shared = undefined;
    if (!shared) return;
    shared.refs--;
    if (shared.refs > 0) return;
    for (const [path, entry] of openFiles) if (entry === shared) openFiles.delete(path);
    shared.connection.close();
  }
}

/**
 * Kysely's SQLite adapter, with transactional DDL: SQLite does run `CREATE TABLE` inside a
 * transaction, so a migration is all-or-nothing, and under `BEGIN IMMEDIATE` two processes that
 * migrate at once run one after the other (the second then finds nothing to do).
 */
class NodeSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

/**
 * A Kysely dialect over `node:sqlite`'s `DatabaseSync`: one connection, a mutex, WAL mode, a
 * busy timeout, foreign keys on, and `BEGIN IMMEDIATE` for write transactions.
 *
 * @example
 * ```ts
 * const db = new Kysely<Schema>({ dialect: new NodeSqliteDialect({ path: '/tmp/airlock.db' }) });
 * ```
 */
export class NodeSqliteDialect implements Dialect {
  readonly #options: NodeSqliteDialectOptions;
  #driver: NodeSqliteDriver | undefined;

  constructor(options: NodeSqliteDialectOptions) {
    this.#options = { ...options };
  }

  createDriver(): Driver {
    this.#driver = new NodeSqliteDriver(this.#options);
    return this.#driver;
  }

  /** Prepared reads on the connection of the driver Kysely created (after its first query). */
  readonly reads: PreparedReads = {
    first: <R>(_name: string, sql: string, params: readonly unknown[]) => {
      const driver = this.#driver;
      if (!driver) throw new Error('the node:sqlite dialect has no driver yet');
      return driver.first<R>(sql, params);
    },
  };

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new NodeSqliteAdapter();
  }

  // biome-ignore lint/suspicious/noExplicitAny: Kysely's Dialect interface takes Kysely<any>.
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}

/** Options of {@link createDialect}. */
export interface CreateDialectOptions {
  /**
   * SQLite: how long to wait for another process's write lock, in ms.
   * @default 30000
   */
  busyTimeoutMs?: number;
  /**
   * PostgreSQL: the most connections the pool opens.
   * @default 4
   */
  poolSize?: number;
}

/**
 * The client-side bounds of a PostgreSQL URL: libpq's `connect_timeout` (seconds, default 10)
 * and `query_timeout` (milliseconds, as node-postgres reads it; default 60000).
 */
export function postgresTimeouts(connectionString: string): { connectMs: number; queryMs: number } {
  let params: URLSearchParams;
  try {
    params = new URL(connectionString).searchParams;
  } catch {
    params = new URLSearchParams();
  }
  const positive = (text: string | null): number | undefined => {
    const n = text === null ? Number.NaN : Number(text);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  };
  const connectSeconds = positive(params.get('connect_timeout'));
  return {
    connectMs: connectSeconds === undefined ? 10_000 : Math.ceil(connectSeconds * 1000),
    queryMs: positive(params.get('query_timeout')) ?? 60_000,
  };
}

/**
 * The dialect for a database target; `pg` is imported only for PostgreSQL.
 *
 * @example
 * ```ts
 * const { dialect, reads } = await createDialect(parseDatabaseUrl(config.database.url));
 * ```
 */
export async function createDialect(
  target: DatabaseTarget,
  options: CreateDialectOptions = {},
): Promise<OpenedDialect> {
  if (target.kind === 'sqlite') {
    const dialect = new NodeSqliteDialect({
      path: target.path,
      ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
    });
    return { dialect, reads: dialect.reads };
  }
  const [{ PostgresDialect }, pg] = await Promise.all([import('kysely'), import('pg')]);
  const Pool = pg.default.Pool;
  const bounds = postgresTimeouts(target.connectionString);
  const pool = new Pool({
    connectionString: target.connectionString,
    max: options.poolSize ?? 4,
    // A CLI run must not be held open by idle connections.
    allowExitOnIdle: true,
    idleTimeoutMillis: 5_000,
    // Every network call is bounded: a server that accepts and never answers fails the
    // connect (libpq's `connect_timeout`) or the query (`query_timeout`), never hangs.
    connectionTimeoutMillis: bounds.connectMs,
    query_timeout: bounds.queryMs,
  });
  // An idle client that loses its server emits 'error' on the pool; without a listener that
  // would crash the process. The next query reports the failure with its code.
  pool.on('error', () => {});
  const reads: PreparedReads = {
    // A named statement: node-postgres parses it once per connection, then only binds.
    async first<R>(name: string, text: string, params: readonly unknown[]) {
      const result = await pool.query({ name, text, values: [...params] });
      return result.rows[0] as R | undefined;
    },
  };
  return { dialect: new PostgresDialect({ pool }), reads };
}
