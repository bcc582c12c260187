/**
 * `masking`: a task's log stream through the masking stream, against a passthrough Transform on
 * the same bytes in the same run, with 10, 1,000 and 10,000 registered secrets (each in every
 * encoding the masker registers, about a dozen forms). The log is realistic text with a few
 * secrets in it; every secret must come out masked.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable, type Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SecretsMasker } from '../../src/masking/masker.ts';
import { createMaskingStream } from '../../src/masking/stream.ts';
import type { ScenarioOptions } from '../_types.ts';

const CHUNK = 64 * 1024;

/** `mb` megabytes of log lines, with `secret` in one line of every thousand. */
function makeLog(mb: number, secret: string): Buffer[] {
  const lines: string[] = [];
  let size = 0;
  for (let n = 0; size < mb * 2 ** 20; n++) {
    const line =
      n % 1000 === 7
        ? `[2026-12-07T01:00:00.000Z] INFO - connecting with password=${secret} to the warehouse\n`
        : `[2026-12-07T01:00:00.000Z] INFO - processed batch ${n} of table events_${n % 97}: ${n * 31} rows, status=ok\n`;
    lines.push(line);
    size += line.length;
  }
  const all = Buffer.from(lines.join(''));
  const chunks: Buffer[] = [];
  for (let i = 0; i < all.length; i += CHUNK) chunks.push(all.subarray(i, i + CHUNK));
  return chunks;
}

async function throughput(
  chunks: Buffer[],
  make: () => Transform,
): Promise<{ mbs: number; out: Buffer[] }> {
  const out: Buffer[] = [];
  const bytes = chunks.reduce((n, c) => n + c.length, 0);
  const started = performance.now();
  await pipeline(
    Readable.from(chunks),
    make(),
    new Writable({
      write(chunk: Buffer, _e, done) {
        out.push(chunk);
        done();
      },
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { mbs: bytes / 2 ** 20 / seconds, out };
}

export async function run({ quick }: ScenarioOptions): Promise<Record<string, number>> {
  const mb = quick ? 20 : 50;
  const secret = `planted-${randomBytes(9).toString('base64url')}`;
  const chunks = makeLog(mb, secret);
  const metrics: Record<string, number> = { log_mb: mb };
  // Warm-up, then the passthrough baseline.
  await throughput(chunks, () => new PassThrough());
  const passthrough = (await throughput(chunks, () => new PassThrough())).mbs;
  metrics.passthrough_mb_s = passthrough;
  for (const count of [10, 1000, 10000]) {
    const masker = new SecretsMasker();
    masker.addSecret(secret);
    for (let i = 1; i < count; i++)
      masker.addSecret(`other-${i}-${randomBytes(12).toString('hex')}`);
    await throughput(chunks.slice(0, 16), () => createMaskingStream(masker));
    const { mbs, out } = await throughput(chunks, () => createMaskingStream(masker));
    if (Buffer.concat(out).includes(secret)) throw new Error('a secret went through unmasked');
    metrics[`mask_${count}_mb_s`] = mbs;
    metrics[`mask_${count}_vs_passthrough`] = mbs / passthrough;
    metrics[`mask_${count}_forms`] = masker.size;
  }
  return metrics;
}
