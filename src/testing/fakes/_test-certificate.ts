/**
 * @module testing/fakes/_test-certificate
 * The test doubles' TLS material: a throw-away CA and a server certificate it signed, for
 * `localhost`, `127.0.0.1` and `::1`, made with the `selfsigned` package (an optional peer
 * dependency: no `openssl` binary is needed). Every double that serves HTTPS gets it from here.
 */
import { loadSdk } from '../../backends/_sdk.ts';

/** A certificate authority and the server certificate it signed, all PEM. */
export interface FakeTlsMaterial {
  /** The CA certificate clients trust (`NODE_EXTRA_CA_CERTS`, or the SDK's TLS settings). */
  ca: string;
  /** The server certificate, for `localhost`, `127.0.0.1` and `::1`. */
  cert: string;
  /** The server's private key. */
  key: string;
}

/**
 * Generates a CA and a server certificate (P-256, SHA-256, valid from a minute ago for a day).
 *
 * @throws AirlockError `AIRLOCK_ERR_BACKEND_SDK_MISSING` when `selfsigned` is not installed.
 * @example
 * ```ts
 * const { ca, cert, key } = await generateTestCertificate();
 * ```
 */
export async function generateTestCertificate(): Promise<FakeTlsMaterial> {
  const { generate } = await loadSdk(
    "the test doubles' TLS",
    'selfsigned',
    () => import('selfsigned'),
  );
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(Date.now() + 24 * 3600_000);
  const ca = await generate([{ name: 'commonName', value: 'airlock test double CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { ca: ca.cert, cert: server.cert, key: server.private };
}
