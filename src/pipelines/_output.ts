/**
 * @module pipelines/_output
 * The task process's output: one ordered, masked byte stream on a file descriptor (its stdout,
 * which the supervisor masks again), written synchronously with `fs.writeSync`.
 *
 * `process.stdout` and `process.stderr` of the task process both write into it: each is a real
 * `Writable` (so `console`, `stream.pipe` and `pipeline` work as usual), made the first time user
 * code asks for it. Until then the process never loads Node's stream modules (a piped
 * `process.stdout` loads `net` and the streams, about 6 ms of CPU a try that prints nothing
 * itself).
 */
import type { Writable } from 'node:stream';
import { ChunkMasker } from '../masking/chunks.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import { writeAll } from '../util/write-all.ts';

/**
 * Masked output on `fd`.
 *
 * @example
 * ```ts
 * const output = new MaskedOutput(1, masker);
 * output.install();
 * output.write('INFO - starting\n');
 * output.end();
 * ```
 */
export class MaskedOutput {
  readonly #fd: number;
  readonly #chunks: ChunkMasker;

  constructor(fd: number, masker: SecretsMasker) {
    this.#fd = fd;
    this.#chunks = new ChunkMasker(masker);
  }

  /** Writes `chunk`, masked (what could be the start of a secret waits for the next write). */
  write(chunk: string | Uint8Array, encoding: BufferEncoding = 'utf8'): void {
    const bytes =
      typeof chunk === 'string'
        ? Buffer.from(chunk, encoding)
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#out(this.#chunks.push(bytes));
  }

  /** Writes what was held back (the process is about to end). */
  end(): void {
    this.#out(this.#chunks.end());
  }

  /** Makes `process.stdout` and `process.stderr` write here (each made on first use). */
  install(): void {
    for (const name of ['stdout', 'stderr'] as const) {
      let stream: Writable | undefined;
      Object.defineProperty(process, name, {
        configurable: true,
        enumerable: true,
        get: () => {
          stream ??= this.#writable();
          return stream;
        },
      });
    }
  }

  #writable(): Writable {
    const { Writable } = process.getBuiltinModule('node:stream');
    const stream = new Writable({
      decodeStrings: false,
      write: (chunk: string | Buffer, encoding: BufferEncoding | 'buffer', callback) => {
        this.write(chunk, encoding === 'buffer' ? undefined : encoding);
        callback();
      },
      final: (callback) => {
        this.end();
        callback();
      },
    });
    return Object.assign(stream, { fd: this.#fd, isTTY: false });
  }

  #out(bytes: Buffer): void {
    try {
      writeAll(this.#fd, bytes);
    } catch {
      // EPIPE: nobody reads this output any more (the supervisor is gone, and so is this
      // process in a moment).
    }
  }
}
