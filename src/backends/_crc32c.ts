/**
 * @module backends/_crc32c
 * CRC-32C (Castagnoli): the checksum Google Cloud Secret Manager keeps for every secret version
 * (`SecretPayload.data_crc32c`) so that a client can tell a payload that was damaged on its way.
 *
 * The polynomial is 0x1EDC6F41 (reflected: 0x82F63B78), with an initial value and a final XOR of
 * 0xFFFFFFFF, as in RFC 3720 (iSCSI) appendix B.4. Payloads are at most 64 KiB, so a byte-wise
 * table is fast enough and keeps this dependency-free.
 */

const POLYNOMIAL_REFLECTED = 0x82f63b78;

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL_REFLECTED : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * The CRC-32C of `data` as an unsigned 32-bit integer. A string is hashed as its UTF-8 bytes.
 * Pass a previous result as `initial` to continue over a payload given in pieces.
 *
 * @example
 * ```ts
 * crc32c('123456789'); // 0xe3069283
 * ```
 */
export function crc32c(data: Uint8Array | string, initial = 0): number {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  let crc = (initial ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    crc = (TABLE[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}
