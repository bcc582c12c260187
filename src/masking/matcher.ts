/**
 * @module masking/matcher
 * Finds many byte patterns in a byte stream at a cost that does not grow with their number: the
 * masker registers every secret in every encoding (about a dozen forms each), so 10,000 secrets
 * are 100,000+ patterns, and one big regular expression (or a prefix scan per chunk) slows down
 * with each one.
 *
 * Every pattern is at least `W` bytes long (`W` = the shortest pattern, at most 4). The input's
 * `W`-byte windows are read as one integer each (shifting in a byte at a time) and looked up in
 * a bitmap of their hashes, so a window that starts no pattern costs a shift, a multiply and
 * one memory read; only on a hit is a map from window to the patterns that start with it (longest
 * first) consulted. That gives the leftmost-longest matches a regular expression
 * `longest|…|shortest` gives, in time linear in the input, whatever the number of patterns.
 *
 * A stream may end in the middle of a pattern: {@link ByteMatcher.scan} reports where the
 * undecided tail starts, and the caller holds those bytes back until more arrive.
 */

/** Window keys are the first (up to) four bytes of a pattern, as one 32-bit integer. */
const MAX_WIDTH = 4;
/** Fibonacci hashing of a key into the bitmap's 2^23 bits (1 MiB). */
const GOLDEN = 0x9e3779b1;
const BITMAP_SHIFT = 9;
/** The bitmap's size in bytes: one bit per value of {@link bitOf}. */
const BITMAP_BYTES = 1 << (32 - BITMAP_SHIFT - 3);
/** The bitmap of a matcher with no pattern yet (never written). */
const EMPTY_BITMAP = new Uint8Array(0);

/** The bitmap bit of a window key. */
function bitOf(key: number): number {
  return Math.imul(key, GOLDEN) >>> BITMAP_SHIFT;
}

/** The key of `bytes[from .. from + width)`: its bytes, big-endian, in one integer. */
function keyOf(bytes: Uint8Array, from: number, width: number): number {
  let key = 0;
  for (let k = 0; k < width; k++) key = (key << 8) | (bytes[from + k] as number);
  return key;
}

/** Whether `bytes[at .. at + upTo)` equals `pattern[0 .. upTo)`. */
function equalAt(bytes: Uint8Array, at: number, pattern: Uint8Array, upTo: number): boolean {
  for (let k = 0; k < upTo; k++) if (bytes[at + k] !== pattern[k]) return false;
  return true;
}

/**
 * A set of byte patterns and a linear-time scanner for their leftmost-longest occurrences.
 *
 * @example
 * ```ts
 * const m = new ByteMatcher();
 * m.add(Buffer.from('s3cret'));
 * m.scan(Buffer.from('a s3cret b'), true, (start, end) => console.log(start, end)); // 2 8
 * ```
 */
export class ByteMatcher {
  /** Every pattern, by its latin1 text (to refuse duplicates). */
  #patterns = new Map<string, Uint8Array>();
  /** The window width: the shortest pattern's length, at most {@link MAX_WIDTH}. */
  #width = 0;
  /** Made on the first pattern (1 MiB): a matcher with none, or a fresh clone, costs nothing. */
  #bitmap = EMPTY_BITMAP;
  /**
   * Whether the index (patterns, bitmap, windows, prefixes) is shared with a clone: a clone
   * costs no copy (a supervisor makes one per task process), and whichever of the two adds a
   * pattern first copies the index then.
   */
  #shared = false;
  /** Window key → the patterns starting with that window, longest first. */
  #byWindow = new Map<number, Uint8Array[]>();
  /** The proper prefixes shorter than the window, by length (for a stream's last bytes). */
  #shortPrefixes: Array<Set<string>> = [];
  #maxLength = 0;

  /** How many patterns. */
  get size(): number {
    return this.#patterns.size;
  }

  /** The longest pattern's length. */
  get maxLength(): number {
    return this.#maxLength;
  }

  /** Adds a pattern (at least one byte); `false` when it was there already. */
  add(pattern: Uint8Array): boolean {
    if (pattern.length === 0) return false;
    const key = Buffer.from(pattern.buffer, pattern.byteOffset, pattern.length).toString('latin1');
    if (this.#patterns.has(key)) return false;
    this.#own();
    const own = Uint8Array.from(pattern);
    this.#patterns.set(key, own);
    this.#maxLength = Math.max(this.#maxLength, own.length);
    const width = Math.min(own.length, MAX_WIDTH);
    if (this.#width === 0 || width < this.#width) this.#reindex(width);
    else this.#index(own);
    return true;
  }

  /** A copy with the same patterns; what either adds later stays its own. */
  clone(): ByteMatcher {
    const copy = new ByteMatcher();
    copy.#patterns = this.#patterns;
    copy.#width = this.#width;
    copy.#maxLength = this.#maxLength;
    copy.#bitmap = this.#bitmap;
    copy.#byWindow = this.#byWindow;
    copy.#shortPrefixes = this.#shortPrefixes;
    copy.#shared = true;
    this.#shared = true;
    return copy;
  }

  /** Makes the index this matcher's own before it changes (see {@link clone}). */
  #own(): void {
    if (this.#bitmap === EMPTY_BITMAP) this.#bitmap = new Uint8Array(BITMAP_BYTES);
    if (!this.#shared) return;
    this.#shared = false;
    this.#patterns = new Map(this.#patterns);
    this.#bitmap = this.#bitmap.slice();
    const windows = new Map<number, Uint8Array[]>();
    for (const [hash, list] of this.#byWindow) windows.set(hash, list.slice());
    this.#byWindow = windows;
    this.#shortPrefixes = this.#shortPrefixes.map((set) => new Set(set));
  }

  #reindex(width: number): void {
    this.#width = width;
    this.#bitmap.fill(0);
    this.#byWindow.clear();
    this.#shortPrefixes = [];
    for (const pattern of this.#patterns.values()) this.#index(pattern);
  }

  #index(pattern: Uint8Array): void {
    const key = keyOf(pattern, 0, this.#width);
    const b = bitOf(key);
    this.#bitmap[b >>> 3] = (this.#bitmap[b >>> 3] as number) | (1 << (b & 7));
    const list = this.#byWindow.get(key);
    if (list) {
      // Longest first, so the first full match at a position is the longest there.
      let at = 0;
      while (at < list.length && (list[at] as Uint8Array).length >= pattern.length) at++;
      list.splice(at, 0, pattern);
    } else {
      this.#byWindow.set(key, [pattern]);
    }
    for (let k = 1; k < this.#width; k++) {
      let set = this.#shortPrefixes[k];
      if (!set) {
        set = new Set();
        this.#shortPrefixes[k] = set;
      }
      set.add(Buffer.from(pattern.subarray(0, k)).toString('latin1'));
    }
  }

  /**
   * Calls `onMatch(start, end)` for each leftmost-longest occurrence in `bytes`, left to right,
   * and returns where the undecided tail starts: the first position where a pattern may begin
   * whose end has not arrived (`bytes.length` when there is none, or with `final`).
   */
  scan(bytes: Uint8Array, final: boolean, onMatch: (start: number, end: number) => void): number {
    const width = this.#width;
    const length = bytes.length;
    if (width === 0) return length;
    const bitmap = this.#bitmap;
    const mask = width === MAX_WIDTH ? -1 : (1 << (8 * width)) - 1;
    // The window [i, i + width) ends at `last`; `key` holds its bytes.
    let i = 0;
    /** Where the bytes not yet part of a match begin. */
    let resume = 0;
    let key = keyOf(bytes, 0, Math.min(width - 1, length));
    for (let last = width - 1; last < length; last++) {
      key = ((key << 8) | (bytes[last] as number)) & mask;
      const b = bitOf(key);
      if (((bitmap[b >>> 3] as number) & (1 << (b & 7))) === 0) continue;
      const candidates = this.#byWindow.get(key);
      if (!candidates) continue;
      i = last - width + 1;
      const available = length - i;
      let matched = 0;
      for (const pattern of candidates) {
        if (pattern.length > available) {
          // Longer than what arrived: if what arrived is its beginning, wait for the rest.
          if (!final && equalAt(bytes, i, pattern, available)) return i;
          continue;
        }
        if (equalAt(bytes, i, pattern, pattern.length)) {
          matched = pattern.length;
          break;
        }
      }
      if (matched === 0) continue;
      onMatch(i, i + matched);
      // Go on after the match: the next window starts where it ends.
      resume = i + matched;
      key = keyOf(bytes, resume, Math.min(width - 1, Math.max(0, length - resume)));
      last = resume + width - 2;
    }
    if (final) return length;
    // The last bytes, shorter than a window: held when they begin some pattern.
    for (let start = Math.max(resume, length - width + 1); start < length; start++) {
      const prefixes = this.#shortPrefixes[length - start];
      if (prefixes?.has(Buffer.from(bytes.subarray(start)).toString('latin1'))) return start;
    }
    return length;
  }
}
