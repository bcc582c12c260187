/**
 * @module metastore/json-entries
 * Reads the entries of a top-level JSON object (`{"key": value, …}`) from a stream of text
 * chunks, one entry at a time, so that a 100,000-variable file is never held in memory whole.
 * Only the entry being read is buffered.
 *
 * The scanner checks the object's structure (keys, `:`, `,`, nesting, strings) and hands each
 * value's raw text back for parsing; errors give the line and column, never the text.
 */
import { AirlockError } from '../errors.ts';

/** One entry of the top-level object. */
export interface JsonEntry {
  /** The decoded key. */
  readonly key: string;
  /** The value's JSON text, exactly as in the file. */
  readonly raw: string;
  /** The 1-based line the key starts on. */
  readonly line: number;
}

const S = {
  BEFORE_OBJECT: 0,
  FIRST_KEY_OR_END: 1,
  KEY: 2,
  AFTER_KEY: 3,
  BEFORE_VALUE: 4,
  VALUE_STRING: 5,
  VALUE_NESTED: 6,
  VALUE_SCALAR: 7,
  AFTER_VALUE: 8,
  NEXT_KEY: 9,
  DONE: 10,
} as const;
type State = (typeof S)[keyof typeof S];

/** The problem of a raw control character (a NUL, a line break) inside a JSON string. */
function unescaped(key: string, c: string): string {
  const code = `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  return `the value of \`${key}\` holds a raw control character (U+${code.slice(2).toUpperCase()}); JSON strings must escape it as \`${code}\``;
}

const isWhitespace = (c: string) => c === ' ' || c === '\n' || c === '\r' || c === '\t';

/**
 * Yields the entries of the JSON object in `chunks`, in file order.
 *
 * @param where How errors name the file (a path, or `stdin`).
 * @throws AirlockError `AIRLOCK_ERR_STORE_IMPORT_INVALID` with the line and column of the first
 *   structural error (the file is not an object, a key is not a string, a `,` or `:` is
 *   missing, the file ends early, text follows the object).
 * @example
 * ```ts
 * for await (const { key, raw, line } of readJsonEntries(createReadStream(path, 'utf8'), path)) { … }
 * ```
 */
export async function* readJsonEntries(
  chunks: AsyncIterable<string | Buffer>,
  where: string,
): AsyncGenerator<JsonEntry> {
  let state: State = S.BEFORE_OBJECT;
  let line = 1;
  let column = 0;
  let first = true;
  // The token being read: pieces from earlier chunks plus the current chunk from `start`.
  let pieces: string[] = [];
  let start = 0;
  let escaped = false;
  let inString = false;
  let depth = 0;
  let key = '';
  let keyLine = 1;

  const fail = (problem: string): AirlockError =>
    new AirlockError(
      'AIRLOCK_ERR_STORE_IMPORT_INVALID',
      `${where}: line ${line} column ${column}: ${problem}`,
      { details: { file: where, line, column } },
    );
  const decodeKey = (text: string): string => {
    try {
      return JSON.parse(text) as string;
    } catch {
      throw fail('a key is not a valid JSON string');
    }
  };

  for await (const input of chunks) {
    let chunk = typeof input === 'string' ? input : input.toString('utf8');
    if (first) {
      first = false;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    start = 0;
    const pending: JsonEntry[] = [];
    const take = (end: number): string => {
      const text =
        pieces.length === 0 ? chunk.slice(start, end) : pieces.join('') + chunk.slice(start, end);
      pieces = [];
      return text;
    };
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as string;
      if (c === '\n') {
        line++;
        column = 0;
      } else {
        column++;
      }
      switch (state) {
        case S.BEFORE_OBJECT:
          if (isWhitespace(c)) break;
          if (c !== '{') throw fail('the file must contain one JSON object of key: value entries');
          state = S.FIRST_KEY_OR_END;
          break;
        case S.FIRST_KEY_OR_END:
        case S.NEXT_KEY:
          if (isWhitespace(c)) break;
          if (c === '}' && state === S.FIRST_KEY_OR_END) {
            state = S.DONE;
            break;
          }
          if (c !== '"') throw fail('expected a key in double quotes');
          state = S.KEY;
          start = i;
          keyLine = line;
          escaped = false;
          break;
        case S.KEY:
          if (escaped) escaped = false;
          else if (c === '\\') escaped = true;
          else if (c === '"') {
            key = decodeKey(take(i + 1));
            state = S.AFTER_KEY;
          } else if (c < ' ') throw fail('a key contains a control character');
          break;
        case S.AFTER_KEY:
          if (isWhitespace(c)) break;
          if (c !== ':') throw fail('expected `:` after a key');
          state = S.BEFORE_VALUE;
          break;
        case S.BEFORE_VALUE:
          if (isWhitespace(c)) break;
          start = i;
          escaped = false;
          if (c === '"') state = S.VALUE_STRING;
          else if (c === '{' || c === '[') {
            state = S.VALUE_NESTED;
            depth = 1;
            inString = false;
          } else if (c === ',' || c === '}' || c === ']' || c === ':') {
            throw fail('expected a value');
          } else state = S.VALUE_SCALAR;
          break;
        case S.VALUE_STRING:
          if (escaped) escaped = false;
          else if (c === '\\') escaped = true;
          else if (c === '"') {
            pending.push({ key, raw: take(i + 1), line: keyLine });
            state = S.AFTER_VALUE;
          } else if (c < ' ') throw fail(unescaped(key, c));
          break;
        case S.VALUE_NESTED:
          if (inString) {
            if (escaped) escaped = false;
            else if (c === '\\') escaped = true;
            else if (c === '"') inString = false;
            else if (c < ' ') throw fail(unescaped(key, c));
          } else if (c === '"') inString = true;
          else if (c === '{' || c === '[') depth++;
          else if (c === '}' || c === ']') {
            depth--;
            if (depth === 0) {
              pending.push({ key, raw: take(i + 1), line: keyLine });
              state = S.AFTER_VALUE;
            }
          }
          break;
        case S.VALUE_SCALAR:
          if (isWhitespace(c) || c === ',' || c === '}') {
            pending.push({ key, raw: take(i), line: keyLine });
            state = S.AFTER_VALUE;
            // The delimiter belongs to what follows the value.
            if (c === ',') state = S.NEXT_KEY;
            else if (c === '}') state = S.DONE;
          }
          break;
        case S.AFTER_VALUE:
          if (isWhitespace(c)) break;
          if (c === ',') state = S.NEXT_KEY;
          else if (c === '}') state = S.DONE;
          else throw fail('expected `,` or `}` after a value');
          break;
        case S.DONE:
          if (!isWhitespace(c)) throw fail('text follows the JSON object');
          break;
      }
    }
    if (
      state === S.KEY ||
      state === S.VALUE_STRING ||
      state === S.VALUE_NESTED ||
      state === S.VALUE_SCALAR
    ) {
      pieces.push(chunk.slice(start));
    }
    // Entries are handed out after the chunk is scanned; only this chunk's entries are held.
    yield* pending;
  }
  // (TypeScript cannot see the loop's assignments here.)
  const end = state as State;
  if (end !== S.DONE) {
    throw fail(
      end === S.BEFORE_OBJECT
        ? 'the file is empty; it must contain one JSON object'
        : 'the file ends inside the object (a `}` is missing)',
    );
  }
}
