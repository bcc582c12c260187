/**
 * @module server/auth/cookies
 * Reading one cookie of a request on the hot path: the session cookie is read on every
 * signed-in request, and Hono's `getCookie` splits and parses the whole `Cookie` header for it
 * (a few µs and some garbage a request). {@link readCookie} finds the cookie's pair directly
 * and, when its value is plain (letters, digits, `_`, `-`: what airlock's cookies hold), returns
 * it as `getCookie` would; any other case goes through `getCookie` itself, so the answer is
 * always the same as Hono's.
 */
import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';

/** A value that Hono's parser returns unchanged (no quotes, no percent-encoding, no spaces). */
const PLAIN_VALUE = /^[\w-]*$/;

function isBlank(code: number): boolean {
  return code === 32 || code === 9;
}

/** Whether `at` starts a pair of `header`: its start, or after `;` and blanks. */
function startsPair(header: string, at: number): boolean {
  let before = at - 1;
  while (before >= 0 && isBlank(header.charCodeAt(before))) before--;
  return before < 0 || header.charCodeAt(before) === 59; // ';'
}

/** `text` without the spaces and tabs around it (Hono's trim). */
function trimBlanks(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isBlank(text.charCodeAt(start))) start++;
  while (end > start && isBlank(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

/**
 * The value of cookie `name` in a `Cookie` header when it can be read without Hono's parser
 * (see the module): `undefined` when the header has no such cookie, `null` when only the parser
 * can tell.
 *
 * @example
 * ```ts
 * plainCookie('a=1; airlock_session=abc', 'airlock_session'); // 'abc'
 * ```
 */
export function plainCookie(
  header: string | null | undefined,
  name: string,
): string | undefined | null {
  if (!header) return undefined;
  const at = header.indexOf(name);
  if (at === -1) return undefined;
  // The fast way only when this is the name's first appearance anywhere in the header, as the
  // start of a `name=value` pair: no earlier pair can then be the one Hono's parser picks.
  if (header.charCodeAt(at + name.length) === 61 && startsPair(header, at)) {
    const from = at + name.length + 1;
    const end = header.indexOf(';', from);
    const value = trimBlanks(end === -1 ? header.slice(from) : header.slice(from, end));
    if (PLAIN_VALUE.test(value)) return value;
  }
  return null;
}

/**
 * The value of cookie `name` on `c`'s request, exactly as `getCookie(c, name)` reads it.
 *
 * @example
 * ```ts
 * const id = readCookie(c, 'airlock_session');
 * ```
 */
export function readCookie(c: Context, name: string): string | undefined {
  const value = plainCookie(c.req.header('cookie'), name);
  return value === null ? getCookie(c, name) : value;
}
