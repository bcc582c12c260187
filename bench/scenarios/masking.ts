/**
 * `masking`: what a supervisor does with a task's output — a child process writes a log to its
 * stdout pipe, the supervisor reads the pipe through the masking stream — against the same pipe
 * read through a passthrough Transform, in the same run, with 10, 1,000 and 10,000 registered
 * secrets (each in every encoding the masker registers, about a dozen forms). The log is
 * realistic text with a secret in one line of every thousand; it must come out masked.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SecretsMasker } from '../../src/masking/masker.ts';
import { createMaskingStream } from '../../src/masking/stream.ts';
import type { ScenarioOptions } from '../_types.ts';

/** `mb` megabytes of log lines, with `secret` in one line of every thousand. */
function makeLog(mb: number, secret: string): Buffer {
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
  return Buffer.from(lines.join(''));
}

/**
 * MB/s of the file `path` written by a child process to its stdout and read through `make()`,
 * and whether `secret` came out anywhere.
 */
async function throughput(
  path: string,
  make: () => Transform,
  secret: string,
): Promise<{ mbs: number; leaked: boolean }> {
  let bytes = 0;
  let leaked = false;
  let tail = Buffer.alloc(0);
  const child = spawn(
    process.execPath,
    ['-e', `require('node:fs').createReadStream(${JSON.stringify(path)}).pipe(process.stdout)`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const started = performance.now();
  await pipeline(
    child.stdout,
    make(),
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        // Searched in the chunk, and across the boundary with the previous one.
        if (chunk.includes(secret)) leaked = true;
        const seam = Buffer.concat([tail, chunk.subarray(0, secret.length)]);
        if (seam.includes(secret)) leaked = true;
        tail = Buffer.from(chunk.subarray(Math.max(0, chunk.length - secret.length)));
        done();
      },
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { mbs: bytes / 2 ** 20 / seconds, leaked };
}

export async function run({ quick }: ScenarioOptions): Promise<Record<string, number>> {
  const mb = quick ? 20 : 50;
  const secret = `planted-${randomBytes(9).toString('base64url')}`;
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-masking-'));
  const log = join(dir, 'task.log');
  writeFileSync(log, makeLog(mb, secret));
  const metrics: Record<string, number> = { log_mb: mb };
  try {
    // Warm-up (and the file into the page cache), then the passthrough baseline.
    await throughput(log, () => new PassThrough(), secret);
    const passthrough = (await throughput(log, () => new PassThrough(), secret)).mbs;
    metrics.passthrough_mb_s = passthrough;
    for (const count of [10, 1000, 10000]) {
      const masker = new SecretsMasker();
      masker.addSecret(secret);
      for (let i = 1; i < count; i++) {
        masker.addSecret(`other-${i}-${randomBytes(12).toString('hex')}`);
      }
      // One run to compile the masking path, then the measured one.
      await throughput(log, () => createMaskingStream(masker), secret);
      const { mbs, leaked } = await throughput(log, () => createMaskingStream(masker), secret);
      if (leaked) throw new Error('a secret went through unmasked');
      metrics[`mask_${count}_mb_s`] = mbs;
      metrics[`mask_${count}_vs_passthrough`] = mbs / passthrough;
      metrics[`mask_${count}_forms`] = masker.size;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return metrics;
}
