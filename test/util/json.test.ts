import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonErrorPosition, safeJsonParse } from '../../src/util/json.ts';

describe('safeJsonParse', () => {
  it('parses valid JSON', () => {
    expect(safeJsonParse('{"a": [1, 2.5e3, true, null, "x\\u00e9"]}')).toEqual({
      ok: true,
      value: { a: [1, 2500, true, null, 'xé'] },
    });
  });

  it('says where the error is without quoting the input', () => {
    const r = safeJsonParse('{\n  "a": "1",\n  "b": s3cret\n}');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message).toBe('is not valid JSON (line 3, column 8)');
    expect(r.message).not.toContain('s3cret');
  });

  it('locates the classic mistakes', () => {
    const cases: [string, number][] = [
      ["{'a': 1}", 1],
      ['{"a": 1,}', 8],
      ['[1 2]', 3],
      ['{"a" 1}', 5],
      ['"unterminated', 13],
      ['01', 1],
      ['{"a": tru}', 6],
      ['{"a": "\\x"}', 8],
      ['', 0],
      ['{} extra', 3],
      ['"tab\there"', 4],
    ];
    for (const [text, offset] of cases) expect(jsonErrorPosition(text).offset, text).toBe(offset);
  });

  it('agrees with JSON.parse on what is valid', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        expect(safeJsonParse(text).ok).toBe(true);
      }),
    );
    fc.assert(
      fc.property(fc.string(), (text) => {
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        expect(safeJsonParse(text).ok).toBe(valid);
        if (!valid) expect(jsonErrorPosition(text).offset).toBeLessThanOrEqual(text.length);
      }),
    );
  });
});
