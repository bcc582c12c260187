/**
 * The supervisor channel's framing (see `src/pipelines/_ipc.ts`): one JSON message per line,
 * read from chunks cut anywhere (inside a message, inside a multi-byte character), several
 * messages in one chunk, a line that is not JSON or is over the size limit dropped without
 * losing the messages around it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeMessage, MessageReader } from '../../src/pipelines/_ipc.ts';

function readAll(chunks: Buffer[]): unknown[] {
  const reader = new MessageReader();
  const out: unknown[] = [];
  for (const chunk of chunks) {
    // The caller may reuse a chunk's memory once push returns: scribble over it.
    reader.push(chunk, (m) => out.push(m));
    chunk.fill(0x7b);
  }
  return out;
}

/** `bytes` cut at `cuts` (positions, in any order). */
function cut(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const c of [...at, bytes.length]) {
    chunks.push(Buffer.from(bytes.subarray(from, c)));
    from = c;
  }
  return chunks;
}

describe('the supervisor channel framing', () => {
  it('reads every message back, however the bytes are cut', () => {
    const message = fc.record({
      type: fc.constantFrom('airlock:lookup', 'airlock:xcom', 'airlock:spec'),
      id: fc.nat(),
      key: fc.string({ unit: 'grapheme' }),
      value: fc.option(fc.string({ unit: 'binary' })),
    });
    fc.assert(
      fc.property(fc.array(message, { maxLength: 8 }), fc.array(fc.nat()), (messages, cuts) => {
        const bytes = Buffer.from(messages.map((m) => encodeMessage(m)).join(''), 'utf8');
        expect(readAll(cut(bytes, cuts))).toEqual(JSON.parse(JSON.stringify(messages)));
      }),
    );
  });

  it('drops a line that is not JSON and keeps the messages around it', () => {
    const bytes = Buffer.from(
      `${encodeMessage({ id: 1 })}not json\n${encodeMessage({ id: 2 })}`,
      'utf8',
    );
    expect(readAll(cut(bytes, [3, 20]))).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('drops a line over 64 MiB without holding it, and reads on', () => {
    const reader = new MessageReader();
    const out: unknown[] = [];
    const big = Buffer.alloc(8 * 1024 * 1024, 0x61);
    reader.push(Buffer.from('{"id":"'), (m) => out.push(m));
    for (let i = 0; i < 9; i++) reader.push(big, (m) => out.push(m));
    reader.push(Buffer.from(`"}\n${encodeMessage({ id: 3 })}`), (m) => out.push(m));
    expect(out).toEqual([{ id: 3 }]);
  });
});
