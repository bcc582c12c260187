/**
 * @module server/store
 * The server's own data, kept in the metastore's database next to `variable` and `connection`:
 * users, sessions, API tokens, deployment settings and the sign-in rate limit. Everything lives
 * in the database, never in process memory, so that several `airlock server` processes sharing
 * one PostgreSQL metastore agree on who is signed in and on the current settings.
 *
 * Secrets at rest: session ids and API tokens are stored as SHA-256 hashes (a database dump does
 * not let anyone sign in), passwords as scrypt hashes, and setting values Fernet-encrypted with
 * the metastore's keys (as Airflow encrypts Variables).
 */
import { createHash, randomBytes } from 'node:crypto';
import { type ColumnType, type Kysely, type RawBuilder, sql, type Transaction } from 'kysely';
import { AirlockError } from '../errors.ts';
import type { Metastore } from '../metastore/metastore.ts';
import type { BooleanColumn, MetastoreSchema, TimestampColumn } from '../metastore/schema.ts';
import { hashPassword, verifyPassword } from './auth/password.ts';
import { isRole, type Role } from './auth/roles.ts';
import { AuthVerdicts, DEFAULT_AUTH_CACHE_SECONDS } from './auth/verdicts.ts';

interface UserTable {
  username: string;
  password_hash: string;
  role: string;
  created_at: TimestampColumn;
  updated_at: TimestampColumn;
}
interface SessionTable {
  id_hash: string;
  username: string;
  csrf_token: string;
  created_at: TimestampColumn;
  expires_at: TimestampColumn;
}
interface ApiTokenTable {
  token_hash: string;
  username: string;
  name: string;
  prefix: string;
  created_at: TimestampColumn;
  last_used_at: TimestampColumn;
}
interface SettingTable {
  name: string;
  value: string;
  is_secret: BooleanColumn;
  updated_at: TimestampColumn;
  updated_by: string | null;
}
interface SettingVersionTable {
  id: number;
  version: ColumnType<string | number, number, number | RawBuilder<number>>;
}
interface LoginFailureTable {
  subject: string;
  failures: number;
  window_start: ColumnType<string | number, number, number>;
}

/** The server's tables, for `Kysely<ServerSchema>`. */
export interface ServerSchema {
  airlock_user: UserTable;
  airlock_session: SessionTable;
  airlock_api_token: ApiTokenTable;
  airlock_setting: SettingTable;
  airlock_setting_version: SettingVersionTable;
  airlock_login_failure: LoginFailureTable;
}

/** A user, without the password hash. */
export interface UserRecord {
  readonly username: string;
  readonly role: Role;
  readonly createdAt: string;
}

/** A signed-in session. */
export interface SessionRecord {
  readonly username: string;
  readonly role: Role;
  readonly csrfToken: string;
  readonly expiresAt: string;
}

/** An API token's metadata (the token itself is shown once, at creation). */
export interface ApiTokenRecord {
  readonly id: string;
  readonly name: string;
  readonly username: string;
  /** The token's first characters, to tell tokens apart. */
  readonly prefix: string;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
}

/** A deployment setting; `value` is `null` for a secret one unless asked for explicitly. */
export interface SettingRecord {
  readonly name: string;
  readonly value: string | null;
  readonly secret: boolean;
  readonly updatedAt: string;
  readonly updatedBy: string | null;
}

/** Options of {@link ServerStore}. */
export interface ServerStoreOptions {
  /**
   * How long a session lasts, in seconds.
   * @default 43200 (12 hours)
   */
  sessionTtlSeconds?: number;
  /**
   * Sign-in attempts checked per user name in one window, counting failures and attempts still
   * being checked (a correct password gives its attempt back and clears the user's count).
   * @default 10
   */
  loginMaxFailures?: number;
  /**
   * Sign-in attempts checked per client address in one window, whatever the user names
   * (a correct password gives its attempt back). Higher than the per-user limit, so that one
   * user's failures do not lock out the others who share the address (a NAT, a proxy).
   * @default 100
   */
  loginMaxAddressFailures?: number;
  /**
   * The rate-limit window, in seconds.
   * @default 900
   */
  loginWindowSeconds?: number;
  /**
   * How long a checked credential (API token, session, JWT user, basic-auth password) is
   * trusted without asking the database again, in seconds; 0 checks every request. A change made
   * through this process applies at once; one made by another process within this time.
   * @default 10
   */
  authCacheSeconds?: number;
}

/**
 * The verdicts of the stores of one metastore: every {@link ServerStore} of a process that opens
 * the same metastore shares them, so a change made through one is seen by all at once.
 */
const verdictsByMetastore = new WeakMap<Metastore, AuthVerdicts>();

/** A setting name as environment variables are named. */
export const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,249}$/;
/** A user name. */
export const USERNAME = /^[A-Za-z0-9_.@-]{1,64}$/;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function iso(value: string | Date | null): string {
  if (value === null) return '';
  return value instanceof Date ? value.toISOString() : String(value);
}

function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * Data access of `airlock server`, over the metastore's database and keys.
 *
 * @example
 * ```ts
 * const users = new ServerStore(metastore);
 * await users.createUser('ada', 'correct horse', 'editor');
 * ```
 */
export class ServerStore {
  readonly #store: Metastore;
  readonly #sessionTtlMs: number;
  readonly #maxFailures: number;
  readonly #maxAddressFailures: number;
  readonly #windowMs: number;
  readonly #verdicts: AuthVerdicts;

  constructor(store: Metastore, options: ServerStoreOptions = {}) {
    this.#store = store;
    let verdicts = verdictsByMetastore.get(store);
    if (!verdicts) {
      verdicts = new AuthVerdicts((options.authCacheSeconds ?? DEFAULT_AUTH_CACHE_SECONDS) * 1000);
      verdictsByMetastore.set(store, verdicts);
    }
    this.#verdicts = verdicts;
    this.#sessionTtlMs = (options.sessionTtlSeconds ?? 43_200) * 1000;
    this.#maxFailures = options.loginMaxFailures ?? 10;
    this.#maxAddressFailures = options.loginMaxAddressFailures ?? 100;
    this.#windowMs = (options.loginWindowSeconds ?? 900) * 1000;
  }

  get #db(): Kysely<ServerSchema> {
    return this.#store.kysely as unknown as Kysely<ServerSchema>;
  }

  // --- users ---------------------------------------------------------------------------------

  /** Every user, by name. */
  async listUsers(): Promise<UserRecord[]> {
    const rows = await this.#db
      .selectFrom('airlock_user')
      .select(['username', 'role', 'created_at'])
      .orderBy('username')
      .execute();
    return rows.map((r) => ({
      username: r.username,
      role: isRole(r.role) ? r.role : 'viewer',
      createdAt: iso(r.created_at),
    }));
  }

  /** One user, or `undefined`. */
  async getUser(username: string): Promise<UserRecord | undefined> {
    return (await this.listUsers()).find((u) => u.username === username);
  }

  /**
   * A user with a stamp of their current password: a short hash of the password hash, which
   * changes whenever the password does. Stateless credentials (JWTs) carry it, so that a new
   * password ends them as it ends API tokens and sessions.
   */
  async userStamp(username: string): Promise<{ user: UserRecord; stamp: string } | undefined> {
    const key = this.#verdicts.keyOf('stamp', username);
    const known = this.#verdicts.get<{ user: UserRecord; stamp: string }>(key);
    if (known) return known.value;
    const row = await this.#db
      .selectFrom('airlock_user')
      .select(['username', 'role', 'created_at', 'password_hash'])
      .where('username', '=', username)
      .executeTakeFirst();
    if (!row || !isRole(row.role)) return undefined;
    const found = {
      user: { username: row.username, role: row.role, createdAt: iso(row.created_at) },
      stamp: sha256(row.password_hash).slice(0, 22),
    };
    this.#verdicts.set(key, { username: row.username, value: found });
    return found;
  }

  /** How many users exist. */
  async countUsers(): Promise<number> {
    const row = await this.#db
      .selectFrom('airlock_user')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /**
   * Creates a user; with `replace`, an existing one gets the new password and role.
   *
   * @throws AirlockError `AIRLOCK_ERR_HTTP_BAD_REQUEST` (bad name or role, short password),
   *   `AIRLOCK_ERR_HTTP_CONFLICT` (exists).
   */
  async createUser(
    username: string,
    password: string,
    role: Role,
    options: { replace?: boolean } = {},
  ): Promise<void> {
    if (!USERNAME.test(username)) {
      throw new AirlockError(
        'AIRLOCK_ERR_HTTP_BAD_REQUEST',
        'a user name is 1 to 64 letters, digits, `_`, `.`, `@` or `-`',
      );
    }
    if (!isRole(role)) {
      throw new AirlockError(
        'AIRLOCK_ERR_HTTP_BAD_REQUEST',
        'the role must be viewer, editor or admin',
      );
    }
    checkPassword(password);
    const hash = await hashPassword(password);
    const now = new Date().toISOString();
    const existing = await this.getUser(username);
    if (existing && !options.replace) {
      throw new AirlockError(
        'AIRLOCK_ERR_HTTP_CONFLICT',
        `the user \`${username}\` already exists`,
      );
    }
    if (existing) {
      await this.#changeUser(username, { role, passwordHash: hash });
      return;
    }
    this.#verdicts.forgetUser(username);
    // Another process (a second server starting on the same database) may create it meanwhile.
    const inserted = await this.#db
      .insertInto('airlock_user')
      .values({ username, password_hash: hash, role, created_at: now, updated_at: now })
      .onConflict((oc) => oc.column('username').doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) {
      throw new AirlockError(
        'AIRLOCK_ERR_HTTP_CONFLICT',
        `the user \`${username}\` already exists`,
      );
    }
  }

  /**
   * Changes a user's role (sessions read the role on every request, so it applies at once).
   *
   * @throws AirlockError `AIRLOCK_ERR_HTTP_LAST_ADMIN` when it would demote the last admin.
   */
  async setRole(username: string, role: Role): Promise<boolean> {
    return this.#changeUser(username, { role });
  }

  /**
   * Sets a user's password. Every API token of the user is revoked and every session ends, but
   * `keepSessionId` (the session that made the change, when a user changes their own password).
   */
  async setPassword(
    username: string,
    password: string,
    options: { keepSessionId?: string } = {},
  ): Promise<boolean> {
    checkPassword(password);
    const passwordHash = await hashPassword(password);
    return this.#changeUser(username, { passwordHash, ...options });
  }

  /**
   * Deletes a user with their sessions and tokens.
   *
   * @throws AirlockError `AIRLOCK_ERR_HTTP_LAST_ADMIN` when it is the last admin.
   */
  async deleteUser(username: string): Promise<boolean> {
    return this.#forgettingUser(username, () => this.#deleteUser(username));
  }

  async #deleteUser(username: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      await this.#keepAnAdmin(trx, username);
      await trx.deleteFrom('airlock_session').where('username', '=', username).execute();
      await trx.deleteFrom('airlock_api_token').where('username', '=', username).execute();
      const result = await trx
        .deleteFrom('airlock_user')
        .where('username', '=', username)
        .executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  /**
   * Changes a user's role and/or password in one transaction. A demotion checks that another
   * admin remains; a new password revokes the user's tokens and ends their sessions (but one).
   */
  async #changeUser(
    username: string,
    change: { role?: Role; passwordHash?: string; keepSessionId?: string },
  ): Promise<boolean> {
    return this.#forgettingUser(username, () => this.#changeUserRow(username, change));
  }

  /**
   * Runs a change to `username` and drops the verdicts about them before and after it (a request
   * checked while the change runs must not keep the old state), whether it succeeds or not.
   */
  async #forgettingUser<T>(username: string, change: () => Promise<T>): Promise<T> {
    this.#verdicts.forgetUser(username);
    try {
      return await change();
    } finally {
      this.#verdicts.forgetUser(username);
    }
  }

  async #changeUserRow(
    username: string,
    change: { role?: Role; passwordHash?: string; keepSessionId?: string },
  ): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      if (change.role !== undefined && change.role !== 'admin') {
        await this.#keepAnAdmin(trx, username);
      }
      const result = await trx
        .updateTable('airlock_user')
        .set({
          ...(change.role === undefined ? {} : { role: change.role }),
          ...(change.passwordHash === undefined ? {} : { password_hash: change.passwordHash }),
          updated_at: new Date().toISOString(),
        })
        .where('username', '=', username)
        .executeTakeFirst();
      if (change.passwordHash !== undefined) {
        await trx.deleteFrom('airlock_api_token').where('username', '=', username).execute();
        let sessions = trx.deleteFrom('airlock_session').where('username', '=', username);
        if (change.keepSessionId !== undefined) {
          sessions = sessions.where('id_hash', '!=', sha256(change.keepSessionId));
        }
        await sessions.execute();
      }
      return Number(result.numUpdatedRows) > 0;
    });
  }

  /**
   * Throws when `username` is an admin and no other admin exists. On PostgreSQL the admin rows
   * are locked (`FOR UPDATE`), so two transactions demoting the last two admins at once cannot
   * both pass; SQLite serialises write transactions.
   */
  async #keepAnAdmin(trx: Transaction<ServerSchema>, username: string): Promise<void> {
    let admins = trx.selectFrom('airlock_user').select('username').where('role', '=', 'admin');
    if (this.#store.dialect === 'postgres') admins = admins.forUpdate();
    const rows = await admins.execute();
    if (rows.some((r) => r.username === username) && rows.length === 1) {
      throw new AirlockError(
        'AIRLOCK_ERR_HTTP_LAST_ADMIN',
        `\`${username}\` is the last admin; make another user admin first`,
      );
    }
  }

  /** The user, when the password is theirs; a missing user costs the same time as a wrong password. */
  async verifyUser(username: string, password: string): Promise<UserRecord | undefined> {
    const row = await this.#db
      .selectFrom('airlock_user')
      .select(['username', 'password_hash', 'role', 'created_at'])
      .where('username', '=', username)
      .executeTakeFirst();
    const ok = await verifyPassword(password, row?.password_hash ?? DUMMY_HASH);
    if (!row || !ok || !isRole(row.role)) {
      // While failures are being counted, the right password is checked (and limited) again.
      this.#verdicts.forgetUser(username);
      return undefined;
    }
    const user = { username: row.username, role: row.role, createdAt: iso(row.created_at) };
    this.#verdicts.set(this.#verdicts.keyOf('password', username, password), {
      username: user.username,
      value: user,
    });
    return user;
  }

  /**
   * What this process found a stateless credential (a JWT) to be, within the verdict time,
   * before its `expiresAt` and with nothing about its user changed since; else `undefined`.
   */
  knownCredential<T>(kind: string, credential: string, now = Date.now()): T | undefined {
    if (!this.#verdicts.enabled) return undefined;
    return this.#verdicts.get<T>(this.#verdicts.keyOf(kind, credential), now)?.value;
  }

  /** Remembers what a stateless credential of `username`'s was found to be. */
  rememberCredential<T>(
    kind: string,
    credential: string,
    username: string,
    value: T,
    expiresAt: number,
  ): void {
    this.#verdicts.set(this.#verdicts.keyOf(kind, credential), { username, value, expiresAt });
  }

  /**
   * The user whose password this is, when {@link verifyUser} found so in this process within the
   * verdict time and nothing about the user changed since: no database read, no scrypt. Anything
   * else is `undefined`, and the password must go through the sign-in limit and `verifyUser`.
   */
  knownPassword(username: string, password: string): UserRecord | undefined {
    if (!this.#verdicts.enabled) return undefined;
    return this.#verdicts.get<UserRecord>(this.#verdicts.keyOf('password', username, password))
      ?.value;
  }

  // --- sessions ------------------------------------------------------------------------------

  /** Starts a session; returns the cookie value (shown once; only its hash is stored). */
  async createSession(username: string): Promise<{ id: string; csrfToken: string }> {
    const id = randomToken();
    const csrfToken = randomToken();
    const now = Date.now();
    await this.#db
      .insertInto('airlock_session')
      .values({
        id_hash: sha256(id),
        username,
        csrf_token: csrfToken,
        created_at: new Date(now).toISOString(),
        expires_at: new Date(now + this.#sessionTtlMs).toISOString(),
      })
      .execute();
    // Expired sessions are swept now and then, on sign-in.
    await this.#db
      .deleteFrom('airlock_session')
      .where('expires_at', '<', new Date(now).toISOString())
      .execute();
    return { id, csrfToken };
  }

  /** The live session of a cookie value, with the user's current role. */
  async getSession(id: string): Promise<SessionRecord | undefined> {
    const key = this.#verdicts.keyOf('session', id);
    const known = this.#verdicts.get<SessionRecord>(key);
    if (known) return known.value;
    const row = await this.#db
      .selectFrom('airlock_session')
      .innerJoin('airlock_user', 'airlock_user.username', 'airlock_session.username')
      .select([
        'airlock_session.username as username',
        'airlock_session.csrf_token as csrf',
        'airlock_session.expires_at as expires',
        'airlock_user.role as role',
      ])
      .where('airlock_session.id_hash', '=', sha256(id))
      .executeTakeFirst();
    if (!row || !isRole(row.role)) return undefined;
    const expires = iso(row.expires);
    const expiresAt = Date.parse(expires);
    if (expiresAt <= Date.now()) return undefined;
    const session = {
      username: row.username,
      role: row.role,
      csrfToken: row.csrf,
      expiresAt: expires,
    };
    this.#verdicts.set(key, { username: row.username, value: session, expiresAt });
    return session;
  }

  /** Ends a session. */
  async deleteSession(id: string): Promise<void> {
    const key = this.#verdicts.keyOf('session', id);
    this.#verdicts.delete(key);
    try {
      await this.#db.deleteFrom('airlock_session').where('id_hash', '=', sha256(id)).execute();
    } finally {
      this.#verdicts.delete(key);
    }
  }

  // --- API tokens ----------------------------------------------------------------------------

  /** Creates an API token for `username`; the token is returned once and stored hashed. */
  async createToken(username: string, name: string): Promise<{ token: string; id: string }> {
    const token = `alk_${randomToken()}`;
    const hash = sha256(token);
    await this.#db
      .insertInto('airlock_api_token')
      .values({
        token_hash: hash,
        username,
        name: name.slice(0, 250) || 'token',
        prefix: token.slice(0, 10),
        created_at: new Date().toISOString(),
      })
      .execute();
    return { token, id: hash.slice(0, 16) };
  }

  /** The tokens of `username` (every user's when `undefined`). */
  async listTokens(username?: string): Promise<ApiTokenRecord[]> {
    let query = this.#db.selectFrom('airlock_api_token').selectAll();
    if (username !== undefined) query = query.where('username', '=', username);
    const rows = await query.orderBy('created_at').execute();
    return rows.map((r) => ({
      id: r.token_hash.slice(0, 16),
      name: r.name,
      username: r.username,
      prefix: r.prefix,
      createdAt: iso(r.created_at),
      lastUsedAt: r.last_used_at === null ? null : iso(r.last_used_at),
    }));
  }

  /** Revokes a token by its id, if `username` owns it (any owner when `undefined`). */
  async deleteToken(id: string, username?: string): Promise<boolean> {
    if (!/^[0-9a-f]{16}$/.test(id)) return false;
    let query = this.#db.deleteFrom('airlock_api_token').where('token_hash', 'like', `${id}%`);
    if (username !== undefined) query = query.where('username', '=', username);
    // The verdicts are keyed by the token, which the id does not give back: all of them go.
    this.#verdicts.clear();
    try {
      const result = await query.executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    } finally {
      this.#verdicts.clear();
    }
  }

  /** The user an API token belongs to. */
  async verifyToken(token: string): Promise<UserRecord | undefined> {
    const key = this.#verdicts.keyOf('token', token);
    const known = this.#verdicts.get<UserRecord>(key);
    if (known) return known.value;
    const user = await this.#verifyTokenRow(token);
    if (user) this.#verdicts.set(key, { username: user.username, value: user });
    return user;
  }

  async #verifyTokenRow(token: string): Promise<UserRecord | undefined> {
    const hash = sha256(token);
    const row = await this.#db
      .selectFrom('airlock_api_token')
      .innerJoin('airlock_user', 'airlock_user.username', 'airlock_api_token.username')
      .select([
        'airlock_user.username as username',
        'airlock_user.role as role',
        'airlock_user.created_at as created',
        'airlock_api_token.last_used_at as lastUsed',
      ])
      .where('airlock_api_token.token_hash', '=', hash)
      .executeTakeFirst();
    if (!row || !isRole(row.role)) return undefined;
    // `last_used_at` is written at most once a minute, so a busy script does not write per call.
    const last = row.lastUsed === null ? 0 : Date.parse(iso(row.lastUsed));
    if (Date.now() - last < 60_000) {
      return { username: row.username, role: row.role, createdAt: iso(row.created) };
    }
    await this.#db
      .updateTable('airlock_api_token')
      .set({ last_used_at: new Date().toISOString() })
      .where('token_hash', '=', hash)
      .execute();
    return { username: row.username, role: row.role, createdAt: iso(row.created) };
  }

  // --- deployment settings -------------------------------------------------------------------

  /** The settings version: bumped by every change, so each process sees another's change. */
  async settingsVersion(): Promise<number> {
    const row = await this.#db
      .selectFrom('airlock_setting_version')
      .select('version')
      .where('id', '=', 1)
      .executeTakeFirst();
    return Number(row?.version ?? 0);
  }

  /**
   * Every setting, by name; a secret one's value is `null` unless `withSecrets` (for the
   * resolver's configuration only, never for a response).
   */
  async listSettings(options: { withSecrets?: boolean } = {}): Promise<SettingRecord[]> {
    const rows = await this.#db.selectFrom('airlock_setting').selectAll().orderBy('name').execute();
    const keys = this.#store.fernet;
    return rows.map((r) => {
      const secret = Boolean(r.is_secret);
      const value = secret && !options.withSecrets ? null : keys.decryptToString(r.value);
      return {
        name: r.name,
        value,
        secret,
        updatedAt: iso(r.updated_at),
        updatedBy: r.updated_by,
      };
    });
  }

  /**
   * Creates or replaces a setting. A secret setting stays secret: once marked, it cannot be
   * turned into a readable one (that would reveal a write-only value), only deleted.
   *
   * @returns `'created'` or `'updated'`.
   */
  async putSetting(
    name: string,
    value: string,
    secret: boolean,
    by: string,
  ): Promise<'created' | 'updated'> {
    if (!SETTING_NAME.test(name)) {
      throw new AirlockError(
        'AIRLOCK_ERR_HTTP_BAD_REQUEST',
        'a setting name is an environment variable name: letters, digits and `_`, not starting with a digit',
      );
    }
    const token = this.#store.fernet.encrypt(value);
    const now = new Date().toISOString();
    return this.#db.transaction().execute(async (trx) => {
      // The version row first: its lock orders concurrent writes of settings, so two processes
      // creating one setting at once update it in turn instead of meeting its unique key.
      await bumpSettingVersion(trx);
      // A value encrypted with keys that are not the metastore's would be unreadable to every
      // other process: the key check guards settings as it guards Variables.
      await this.#store.checkKeys(trx as unknown as Transaction<MetastoreSchema>);
      const existing = await trx
        .selectFrom('airlock_setting')
        .select('is_secret')
        .where('name', '=', name)
        .executeTakeFirst();
      const isSecret = secret || Boolean(existing?.is_secret);
      if (existing) {
        await trx
          .updateTable('airlock_setting')
          .set({ value: token, is_secret: isSecret, updated_at: now, updated_by: by })
          .where('name', '=', name)
          .execute();
      } else {
        await trx
          .insertInto('airlock_setting')
          .values({ name, value: token, is_secret: isSecret, updated_at: now, updated_by: by })
          .execute();
      }
      return existing ? 'updated' : 'created';
    });
  }

  /** Deletes a setting. */
  async deleteSetting(name: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      await bumpSettingVersion(trx);
      const result = await trx
        .deleteFrom('airlock_setting')
        .where('name', '=', name)
        .executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  // --- sign-in rate limit --------------------------------------------------------------------

  /** The limit of a subject: `addr:…` subjects have the address limit, the others the user one. */
  #limitOf(subject: string): number {
    return subject.startsWith('addr:') ? this.#maxAddressFailures : this.#maxFailures;
  }

  /**
   * Reserves one sign-in attempt against each subject (a user name, a client address) before
   * the password is checked: one transaction counts the attempt (an upsert that starts a new
   * window when the old one ended) and reads the counts back. When a subject is over its limit
   * the transaction rolls back (nothing is counted) and the answer is the seconds to wait.
   *
   * Counting first and checking second is what makes the limit hold under concurrency: 150
   * parallel attempts each take a row lock in turn (PostgreSQL, across every server process on
   * the database) or the write lock (SQLite), so at most the limit of them see a count under it
   * and go on to check a password. A successful check gives its reservation back
   * ({@link settleLoginSuccess}); a failed one keeps it, as the failure it is.
   *
   * @returns 0 when the attempt may go on, else the seconds until it may.
   */
  async reserveLoginAttempt(subjects: readonly string[]): Promise<number> {
    const now = Date.now();
    const windowMs = this.#windowMs;
    const expired = sql<boolean>`airlock_login_failure.window_start + ${windowMs} <= ${now}`;
    try {
      await this.#db.transaction().execute(async (trx) => {
        let wait = 0;
        // Always in the same order (user, then address), so two attempts never deadlock.
        for (const subject of subjects) {
          const row = await trx
            .insertInto('airlock_login_failure')
            .values({ subject, failures: 1, window_start: now })
            .onConflict((oc) =>
              oc.column('subject').doUpdateSet({
                failures: sql<number>`CASE WHEN ${expired} THEN 1 ELSE airlock_login_failure.failures + 1 END`,
                window_start: sql<number>`CASE WHEN ${expired} THEN ${now} ELSE airlock_login_failure.window_start END`,
              }),
            )
            .returning(['failures', 'window_start'])
            .executeTakeFirstOrThrow();
          if (Number(row.failures) > this.#limitOf(subject)) {
            if (subject.startsWith('user:')) this.#verdicts.forgetUser(subject.slice(5));
            const end = Number(row.window_start) + windowMs;
            wait = Math.max(wait, Math.max(1, Math.ceil((end - now) / 1000)));
          }
        }
        if (wait > 0) throw new LoginLimited(wait);
      });
    } catch (err) {
      if (err instanceof LoginLimited) return err.wait;
      throw err;
    }
    return 0;
  }

  /**
   * After a correct password: the user's failures are cleared and the address's reservation is
   * given back (a successful sign-in does not count against the address).
   */
  async settleLoginSuccess(subjects: readonly string[]): Promise<void> {
    const users = subjects.filter((s) => !s.startsWith('addr:'));
    const addresses = subjects.filter((s) => s.startsWith('addr:'));
    if (users.length > 0) await this.clearLoginFailures(users);
    if (addresses.length > 0) {
      await this.#db
        .updateTable('airlock_login_failure')
        .set({ failures: sql<number>`failures - 1` })
        .where('subject', 'in', addresses)
        .where('failures', '>', 0)
        .execute();
    }
  }

  /** Clears the failures of a user after a successful sign-in. */
  async clearLoginFailures(subjects: readonly string[]): Promise<void> {
    await this.#db
      .deleteFrom('airlock_login_failure')
      .where('subject', 'in', [...subjects])
      .execute();
  }
}

/** Rolls back a sign-in reservation that found a subject over its limit. */
class LoginLimited extends Error {
  readonly wait: number;
  constructor(wait: number) {
    super('sign-in limit reached');
    this.wait = wait;
  }
}

/** The shortest password accepted. */
export const MIN_PASSWORD_LENGTH = 8;

function checkPassword(password: string): void {
  if (typeof password !== 'string' || password.length < MIN_PASSWORD_LENGTH) {
    throw new AirlockError(
      'AIRLOCK_ERR_HTTP_BAD_REQUEST',
      `a password has at least ${MIN_PASSWORD_LENGTH} characters`,
    );
  }
  if (password.length > 1024) {
    throw new AirlockError(
      'AIRLOCK_ERR_HTTP_BAD_REQUEST',
      'a password has at most 1024 characters',
    );
  }
}

/** A hash no password matches, so that a missing user costs one scrypt too. */
const DUMMY_HASH = `scrypt$16384$8$1$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(64).toString('base64')}`;

/** Generates a random password (for the first admin). */
export function generatePassword(): string {
  return randomToken(18);
}

/** Counts a change of the settings (other processes reload them when the version moves). */
async function bumpSettingVersion(trx: Transaction<ServerSchema>): Promise<void> {
  await trx
    .updateTable('airlock_setting_version')
    .set({ version: sql<number>`version + 1` })
    .where('id', '=', 1)
    .execute();
}
