/**
 * @module masking/stream
 * A Transform that masks registered secrets in a byte stream, including a secret split across
 * two chunks. It works on bytes (latin1 strings internally), so binary output and multi-byte
 * characters cut between chunks pass through unchanged.
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
  let pending = '';
  const emit = (stream: Transform, final: boolean) => {
    if (pending === '') return;
    const { out, held } = masker.redactStreamChunk(pending, final);
    if (out !== '') stream.push(Buffer.from(out, 'latin1'));
    pending = held;
  };
  return new Transform({
    transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback) {
      pending += Buffer.isBuffer(chunk)
        ? chunk.toString('latin1')
        : Buffer.from(chunk).toString('latin1');
      emit(this, false);
      callback();
    },
    flush(callback: TransformCallback) {
      emit(this, true);
      callback();
    },
  });
}
