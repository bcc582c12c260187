/**
 * @module backends/_sigv4
 * AWS Signature Version 4 for one request, with `node:crypto` only: what Vault's `aws` auth
 * method needs (a signed `sts:GetCallerIdentity` that Vault replays to STS), without loading the
 * AWS SDK into the Vault backend. The Vault test double verifies signatures with the same
 * function, and hvac's signatures pass it, which is what shows it signs as AWS does.
 */
import { createHash, createHmac } from 'node:crypto';

/** The credentials a request is signed with. */
export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

/** One request to sign: its method, URL, headers (any case) and body. */
export interface SigV4Request {
  method: string;
  url: string;
  headers: Readonly<Record<string, string>>;
  body: string;
}

const sha256 = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: string | Buffer, data: string) =>
  createHmac('sha256', key).update(data, 'utf8').digest();

/** `20260102T030405Z` for a time. */
export function amzDate(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function canonicalUri(url: URL): string {
  return url.pathname === '' ? '/' : url.pathname;
}

function canonicalQuery(url: URL): string {
  return [...url.searchParams]
    .map(([k, v]) => [encodeURIComponent(k), encodeURIComponent(v)] as const)
    .sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : 1) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/**
 * The `Signature=` of a request whose headers already hold `X-Amz-Date` (and the session token,
 * if any): the signed headers are `signedHeaders`, in AWS's canonical form.
 *
 * @example
 * ```ts
 * const sig = sigV4Signature(request, signedHeaders, 'us-east-1', 'sts', secretAccessKey);
 * ```
 */
export function sigV4Signature(
  request: SigV4Request,
  signedHeaders: readonly string[],
  region: string,
  service: string,
  secretAccessKey: string,
): string {
  const lower = new Map(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v]));
  const date = lower.get('x-amz-date') ?? '';
  const day = date.slice(0, 8);
  const url = new URL(request.url);
  const names = [...signedHeaders].map((h) => h.toLowerCase()).sort();
  const canonicalHeaders = names
    .map((name) => `${name}:${(lower.get(name) ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalUri(url),
    canonicalQuery(url),
    canonicalHeaders,
    names.join(';'),
    sha256(request.body),
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', date, scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(
    hmac(hmac(hmac(`AWS4${secretAccessKey}`, day), region), service),
    'aws4_request',
  );
  return createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
}

/**
 * Signs `request` in place of AWS's SDK: adds `X-Amz-Date`, `X-Amz-Security-Token` (with a
 * session token) and `Authorization`, signing every header given.
 *
 * @example
 * ```ts
 * const headers = signSigV4(request, credentials, 'us-east-1', 'sts', new Date());
 * ```
 */
export function signSigV4(
  request: SigV4Request,
  credentials: SigV4Credentials,
  region: string,
  service: string,
  at: Date,
): Record<string, string> {
  const headers: Record<string, string> = { ...request.headers, 'X-Amz-Date': amzDate(at) };
  if (credentials.sessionToken) headers['X-Amz-Security-Token'] = credentials.sessionToken;
  const signed = Object.keys(headers).map((h) => h.toLowerCase());
  const signature = sigV4Signature(
    { ...request, headers },
    signed,
    region,
    service,
    credentials.secretAccessKey,
  );
  const scope = `${amzDate(at).slice(0, 8)}/${region}/${service}/aws4_request`;
  headers.Authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signed.sort().join(';')}, Signature=${signature}`;
  return headers;
}
