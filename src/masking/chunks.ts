/**
 * @module masking/chunks
 * Masking of a byte stream one chunk at a time, without Node's streams: bytes that could be the
 * start of a secret are held back until the next chunk proves otherwise (or the end), so a
 * secret split across two chunks is masked. {@link createMaskingStream} wraps it in a Transform;
 * the task process writes its output through it synchronously (see `pipelines/task-main.ts`).
 */
import type { SecretsMasker } from './masker.ts';

/**
 * The masking state of one byte stream.
 *
 * @example
 * ```ts
 * const chunks = new ChunkMasker(masker);
 * out.write(chunks.push(bytes));
 * out.write(chunks.end());
 * ```
 */
export class ChunkMasker {
  #pending: Buffer | undefined;
  readonly #masker: SecretsMasker;

  constructor(masker: SecretsMasker) {
    this.#masker = masker;
  }

  /** What of `bytes` (after what was held) can be written now, masked. */
  push(bytes: Buffer): Buffer {
    return this.#emit(this.#pending ? Buffer.concat([this.#pending, bytes]) : bytes, false);
  }

  /** What was held back, masked: the stream ended (or must be flushed whole). */
  end(): Buffer {
    return this.#pending ? this.#emit(this.#pending, true) : EMPTY;
  }

  #emit(bytes: Buffer, final: boolean): Buffer {
    const { out, held } = this.#masker.redactChunk(bytes, final);
    // The held tail is a view of this chunk: copy it, the chunk's memory may be reused.
    this.#pending = held.length > 0 ? Buffer.from(held) : undefined;
    return out;
  }
}

const EMPTY = Buffer.alloc(0);
