/**
 * @module util/write-all
 * Writing a whole buffer to a file descriptor synchronously (`fs.writeSync` may write less than
 * it was given, on a pipe or a socket). Node's `fs` is taken from the process, not imported: the
 * task process uses this, and an ES import of `node:fs` reads every export of it (loading
 * `fs/promises` and Node's streams).
 */
const { writeSync } = process.getBuiltinModule('node:fs');

/**
 * Writes all of `bytes` to `fd`, waiting as a blocking descriptor does.
 *
 * @throws the `fs.writeSync` error (`EPIPE` when nobody reads any more).
 * @example
 * ```ts
 * writeAll(1, Buffer.from('INFO - done\n'));
 * ```
 */
export function writeAll(fd: number, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
}
