import { describe, expect, it } from 'vitest';
import { crc32c } from '../../src/backends/_crc32c.ts';

const range = (length: number, at: (i: number) => number) =>
  Uint8Array.from({ length }, (_, i) => at(i));

describe('crc32c', () => {
  it('gives 0 for no bytes', () => {
    expect(crc32c(new Uint8Array())).toBe(0);
    expect(crc32c('')).toBe(0);
  });

  it('matches the standard check value of "123456789"', () => {
    expect(crc32c('123456789')).toBe(0xe3069283);
  });

  it('matches the RFC 3720 appendix B.4 vectors', () => {
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(range(32, () => 0xff))).toBe(0x62a8ab43);
    expect(crc32c(range(32, (i) => i))).toBe(0x46dd794e);
    expect(crc32c(range(32, (i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('matches the RFC 3720 iSCSI read command PDU vector', () => {
    const pdu = Buffer.from(
      '01c00000000000000000000000000000' +
        '14000000000004000000001400000018' +
        '28000000000000000200000000000000',
      'hex',
    );
    expect(crc32c(pdu)).toBe(0xd9963a56);
  });

  it('hashes a string as its UTF-8 bytes', () => {
    const text = 'Grüße, 世界 🚀';
    expect(crc32c(text)).toBe(crc32c(new TextEncoder().encode(text)));
    expect(crc32c('Grüße')).not.toBe(crc32c(Buffer.from('Grüße', 'latin1')));
  });

  it('continues over a payload given in pieces', () => {
    const whole = new TextEncoder().encode('hello, secret manager');
    const first = crc32c(whole.subarray(0, 7));
    expect(crc32c(whole.subarray(7), first)).toBe(crc32c(whole));
  });

  it('returns an unsigned 32-bit integer and changes with any flipped bit', () => {
    const data = range(64, (i) => (i * 37) & 0xff);
    const base = crc32c(data);
    expect(Number.isInteger(base) && base >= 0 && base <= 0xffffffff).toBe(true);
    for (let bit = 0; bit < 8; bit++) {
      const flipped = Uint8Array.from(data);
      flipped[10] = (flipped[10] as number) ^ (1 << bit);
      expect(crc32c(flipped)).not.toBe(base);
    }
  });
});
