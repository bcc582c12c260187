/**
 * @module masking/stream
 * A Transform that masks registered secrets in a byte stream, including a secret split across
 * two chunks. It works on bytes, so binary output and multi-byte characters cut between chunks
 * pass through unchanged, and a chunk with no secret in it passes without a copy.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { ChunkMasker } from './chunks.ts';
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
  const chunks = new ChunkMasker(masker);
  return new Transform({
    transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback) {
      const out = chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      if (out.length > 0) this.push(out);
      callback();
    },
    flush(callback: TransformCallback) {
      const out = chunks.end();
      if (out.length > 0) this.push(out);
      callback();
    },
  });
}
