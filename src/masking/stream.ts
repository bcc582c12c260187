/**
 * @module masking/stream
 * A Transform that masks registered secrets in a byte stream, including a secret split across
 * two chunks. It works on bytes, so binary output and multi-byte characters cut between chunks
 * pass through unchanged, and a chunk with no secret in it passes without a copy.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { SecretsMasker } from './masker.ts';

/**
 * Creates a masking stream. Bytes that could be the start of a secret are held back until the
 * next chunk proves otherwise (or the stream ends); everything else flows through at once.
 *
 * @example
 * ```ts
 * child.stdout.pipe(createMaskingStream(masker)).pipe(process.stdout);
 * ```
 */
export function createMaskingStream(masker: SecretsMasker): Transform {
  let pending: Buffer | undefined;
  const emit = (stream: Transform, bytes: Buffer, final: boolean) => {
    const { out, held } = masker.redactChunk(bytes, final);
    if (out.length > 0) stream.push(out);
    // The held tail is a view of this chunk: copy it, the chunk's memory may be reused.
    pending = held.length > 0 ? Buffer.from(held) : undefined;
  };
  return new Transform({
    transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      emit(this, pending ? Buffer.concat([pending, bytes]) : bytes, false);
      callback();
    },
    flush(callback: TransformCallback) {
      if (pending) emit(this, pending, true);
      callback();
    },
  });
}
