/**
 * @module metastore/py-json
 * Python's `json.dumps(value, indent=n, sort_keys=…)`, for the text Airflow stores and exports:
 * `variables import` stores a non-string value as `json.dumps(v, indent=2)`, and
 * `variables export` writes `json.dump(…, sort_keys=True, indent=4)`.
 */
import { jsonDumps, type PyJson } from '../model/connection-uri.ts';

/** Python's code-point order of `str` keys (JS's default sort is by UTF-16 unit). */
export function comparePyStr(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const d = (x[i]?.codePointAt(0) ?? 0) - (y[i]?.codePointAt(0) ?? 0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** Options of {@link pyJsonDumps}. */
export interface PyJsonDumpsOptions {
  /** Spaces per level; `undefined`: one line, Python's default separators. */
  indent?: number;
  /** @default false */
  sortKeys?: boolean;
  /** The nesting level the value starts at (for writing one entry of a larger document). */
  level?: number;
}

/**
 * Python's `json.dumps` with `indent` and `sort_keys` (and `ensure_ascii=True`): with an indent,
 * items are separated by `,` and a newline, keys by `: `; empty containers stay `[]` / `{}`.
 *
 * @example
 * ```ts
 * pyJsonDumps(jsonLoads('{"b": 1, "a": [1, 2]}'), { indent: 2, sortKeys: true });
 * // '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}'
 * ```
 */
export function pyJsonDumps(value: PyJson, options: PyJsonDumpsOptions = {}): string {
  const { indent, sortKeys = false, level = 0 } = options;
  if (indent === undefined && !sortKeys) return jsonDumps(value);
  const write = (v: PyJson, depth: number): string => {
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      if (indent === undefined) return `[${v.map((item) => write(item, depth)).join(', ')}]`;
      const inner = ' '.repeat(indent * (depth + 1));
      const items = v.map((item) => inner + write(item, depth + 1));
      return `[\n${items.join(',\n')}\n${' '.repeat(indent * depth)}]`;
    }
    if (v instanceof Map) {
      if (v.size === 0) return '{}';
      const keys = [...v.keys()];
      if (sortKeys) keys.sort(comparePyStr);
      const pair = (k: string, d: number) => `${jsonDumps(k)}: ${write(v.get(k) ?? null, d)}`;
      if (indent === undefined) return `{${keys.map((k) => pair(k, depth)).join(', ')}}`;
      const inner = ' '.repeat(indent * (depth + 1));
      const items = keys.map((k) => inner + pair(k, depth + 1));
      return `{\n${items.join(',\n')}\n${' '.repeat(indent * depth)}}`;
    }
    return jsonDumps(v);
  };
  return write(value, level);
}
