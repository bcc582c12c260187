/**
 * @module server/auth/verdicts
 * A short-lived, in-memory memory of credentials this process has already checked, so that an
 * authenticated API request costs no database round trip (API tokens, sessions, JWT users) and no
 * scrypt (HTTP basic auth) when nothing changed.
 *
 * - Keys are SHA-256 digests of a random secret of this process followed by the credential: the
 *   map holds no token, cookie or password, and its keys cannot be checked against a guess
 *   without the secret. (A one-shot `hash` rather than `createHmac`: on Node 24 with OpenSSL 3 an
 *   HMAC object costs some 18 µs to set up, a one-shot digest half a microsecond. The keys are
 *   only looked up, never shown, so the HMAC construction's guarantees are not needed.)
 * - A verdict lives `ttlMs` (default 10 s, `AIRLOCK__API__AUTH_CACHE_SECONDS`): a credential revoked
 *   by another process (another server, `airlock users delete`) stops working within that time.
 * - In the process that changes something, it applies at once: every change to users, passwords,
 *   roles, tokens and sessions made through {@link ServerStore} drops the verdicts it could affect.
 * - Only successes are remembered: a wrong credential is checked (and, for passwords, counted by
 *   the sign-in limit) every time. A failed password for a user drops that user's verdicts, so
 *   that while the limit holds the right password goes through the limit again and is refused.
 */
import { hash, randomBytes } from 'node:crypto';

/** What a credential was found to be. */
export interface Verdict<T> {
  readonly username: string;
  readonly value: T;
  /** When the credential itself expires (a session), in ms since the epoch. */
  readonly expiresAt?: number;
}

interface Entry {
  readonly verdict: Verdict<unknown>;
  readonly until: number;
}

/** The default lifetime of a verdict, in seconds. */
export const DEFAULT_AUTH_CACHE_SECONDS = 10;

/** The most verdicts kept; the oldest go first. */
const MAX_ENTRIES = 10_000;

/**
 * Verdicts by credential digest.
 *
 * @example
 * ```ts
 * const verdicts = new AuthVerdicts(10_000);
 * const key = verdicts.keyOf('token', token);
 * const user = verdicts.get<UserRecord>(key) ?? (await checkInDatabase(token));
 * ```
 */
export class AuthVerdicts {
  readonly #ttlMs: number;
  readonly #secret = randomBytes(32).toString('base64url');
  readonly #entries = new Map<string, Entry>();

  /** @param ttlMs how long a verdict lives; 0 remembers nothing. */
  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  /** Whether verdicts are kept at all. */
  get enabled(): boolean {
    return this.#ttlMs > 0;
  }

  /** The map key of a credential of `kind` (its parts joined unambiguously). */
  keyOf(kind: string, ...parts: readonly string[]): string {
    let text = `${this.#secret}\0${kind}`;
    for (const part of parts) text += `\0${part.length}:${part}`;
    return hash('sha256', text, 'base64url');
  }

  /** The live verdict under `key`, if any. */
  get<T>(key: string, now = Date.now()): Verdict<T> | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (
      entry.until <= now ||
      (entry.verdict.expiresAt !== undefined && entry.verdict.expiresAt <= now)
    ) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.verdict as Verdict<T>;
  }

  /** Remembers a successful check. */
  set<T>(key: string, verdict: Verdict<T>, now = Date.now()): void {
    if (this.#ttlMs <= 0) return;
    if (this.#entries.size >= MAX_ENTRIES) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, { verdict, until: now + this.#ttlMs });
  }

  /** Drops one verdict. */
  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** Drops every verdict about `username`. */
  forgetUser(username: string): void {
    for (const [key, entry] of this.#entries) {
      if (entry.verdict.username === username) this.#entries.delete(key);
    }
  }

  /** Drops every verdict. */
  clear(): void {
    this.#entries.clear();
  }
}
