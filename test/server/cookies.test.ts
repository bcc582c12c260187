/**
 * `readCookie` (the session cookie on every signed-in request) reads exactly what Hono's
 * `getCookie` reads, for any `Cookie` header: the name inside other names and values, blanks,
 * quotes, percent-encoding, duplicates, empty and broken pairs.
 */
import fc from 'fast-check';
import { Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import { describe, expect, it } from 'vitest';
import { readCookie } from '../../src/server/auth/cookies.ts';

const NAME = 'airlock_session';

const app = new Hono();
app.get('/', (c) =>
  c.json({ ours: readCookie(c, NAME) ?? null, hono: getCookie(c, NAME) ?? null }),
);

async function both(header: string): Promise<{ ours: string | null; hono: string | null }> {
  const res = await app.request('/', { headers: { cookie: header } });
  return (await res.json()) as { ours: string | null; hono: string | null };
}

describe('readCookie', () => {
  it('reads what getCookie reads', async () => {
    const piece = fc.constantFrom(
      NAME,
      `x${NAME}`,
      `${NAME}x`,
      'other',
      '=',
      ';',
      '; ',
      ' ',
      '\t',
      '"',
      '%41',
      '%',
      'abc-_09',
      'a b',
      ',',
    );
    const noise = fc.array(piece, { maxLength: 12 }).map((parts) => parts.join(''));
    // Pairs, as clients send them, with odd names, values and separators.
    const pair = fc
      .tuple(
        fc.constantFrom(NAME, ` ${NAME}`, `${NAME} `, `x${NAME}`, 'other', ''),
        fc.constantFrom('tok', 'abc_DEF-09', '', ' tok ', '"q"', '%41', 'a%', 'a b', '"', 'x=y'),
      )
      .map(([name, value]) => `${name}=${value}`);
    const pairs = fc
      .tuple(fc.array(pair, { maxLength: 4 }), fc.constantFrom(';', '; ', ' ;', ';\t'))
      .map(([list, sep]) => list.join(sep));
    const header = fc.oneof(noise, pairs);
    await fc.assert(
      fc.asyncProperty(header, async (h) => {
        const { ours, hono } = await both(h);
        expect(ours).toBe(hono);
      }),
      { numRuns: 500 },
    );
  });

  it('reads the plain value of the common headers', async () => {
    expect(await both(`${NAME}=abc_DEF-123`)).toEqual({ ours: 'abc_DEF-123', hono: 'abc_DEF-123' });
    expect(await both(`a=1; ${NAME}=tok; b=2`)).toEqual({ ours: 'tok', hono: 'tok' });
    expect(await both(`x${NAME}=no; ${NAME}=yes`)).toEqual({ ours: 'yes', hono: 'yes' });
    expect(await both(`${NAME}="quoted"`)).toEqual({ ours: 'quoted', hono: 'quoted' });
    expect(await both('a=1')).toEqual({ ours: null, hono: null });
  });
});
