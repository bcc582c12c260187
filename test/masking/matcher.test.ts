/**
 * The masker's matcher against the reference it replaces: one regular expression
 * `longest|…|shortest` (leftmost-longest), over random patterns and texts on a small alphabet
 * (so that patterns overlap, nest and share prefixes), in one piece and cut into chunks.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteMatcher } from '../../src/masking/matcher.ts';

function reference(patterns: readonly string[], text: string): string {
  const sorted = [...new Set(patterns)].sort((a, b) => b.length - a.length);
  if (sorted.length === 0) return text;
  const escaped = sorted.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return text.replace(new RegExp(escaped.join('|'), 'g'), '*');
}

function masked(matcher: ByteMatcher, text: string, final = true): { out: string; held: string } {
  const bytes = Buffer.from(text, 'latin1');
  let out = '';
  let pos = 0;
  const cut = matcher.scan(bytes, final, (start, end) => {
    out += `${text.slice(pos, start)}*`;
    pos = end;
  });
  out += text.slice(pos, Math.max(cut, pos));
  return { out, held: text.slice(Math.max(cut, pos)) };
}

const alphabet = fc.constantFrom('a', 'b', 'c', '\u00ff');
const word = (min: number, max: number) =>
  fc.array(alphabet, { minLength: min, maxLength: max }).map((cs) => cs.join(''));

describe('ByteMatcher', () => {
  it('finds what a longest-first regular expression finds (property)', () => {
    fc.assert(
      fc.property(fc.array(word(1, 6), { minLength: 1, maxLength: 8 }), word(0, 60), (ps, text) => {
        const matcher = new ByteMatcher();
        for (const p of ps) matcher.add(Buffer.from(p, 'latin1'));
        expect(masked(matcher, text).out).toBe(reference(ps, text));
      }),
      { numRuns: 2000 },
    );
  });

  it('gives the same result streamed in any chunking, holding back only undecided tails', () => {
    fc.assert(
      fc.property(
        fc.array(word(2, 6), { minLength: 1, maxLength: 6 }),
        word(0, 50),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 10 }),
        (ps, text, sizes) => {
          const matcher = new ByteMatcher();
          for (const p of ps) matcher.add(Buffer.from(p, 'latin1'));
          let out = '';
          let pending = '';
          for (let i = 0, k = 0; i < text.length; k++) {
            const n = sizes[k % sizes.length] as number;
            const step = masked(matcher, pending + text.slice(i, i + n), false);
            out += step.out;
            pending = step.held;
            // What is held back is always the beginning of some pattern.
            if (pending !== '') {
              expect(ps.some((p) => p.length > pending.length && p.startsWith(pending))).toBe(true);
            }
            i += n;
          }
          out += masked(matcher, pending, true).out;
          expect(out).toBe(reference(ps, text));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('keeps a clone apart from its original', () => {
    const a = new ByteMatcher();
    a.add(Buffer.from('shared'));
    const b = a.clone();
    b.add(Buffer.from('xx'));
    expect(masked(a, 'shared xx').out).toBe('* xx');
    expect(masked(b, 'shared xx').out).toBe('* *');
    expect([a.size, b.size]).toEqual([1, 2]);
  });

  it('keeps clones of clones apart whichever adds first (the index is shared until then)', () => {
    const a = new ByteMatcher();
    a.add(Buffer.from('shared-secret'));
    const b = a.clone();
    const c = b.clone();
    // The original adds first, a shorter pattern (a new window width: everything re-indexed).
    a.add(Buffer.from('ab'));
    c.add(Buffer.from('only-c-secret'));
    const text = 'shared-secret ab only-c-secret';
    expect(masked(a, text).out).toBe('* * only-c-secret');
    expect(masked(b, text).out).toBe('* ab only-c-secret');
    expect(masked(c, text).out).toBe('* ab *');
    expect([a.size, b.size, c.size]).toEqual([2, 1, 2]);
    // A clone of an empty matcher works and stays apart too.
    const empty = new ByteMatcher();
    const d = empty.clone();
    d.add(Buffer.from('dd'));
    expect(masked(empty, 'dd').out).toBe('dd');
    expect(masked(d, 'dd').out).toBe('*');
  });
});
