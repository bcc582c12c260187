/**
 * The security headers as a real `airlock server` sends them over HTTP (the Node adapter path,
 * where they go onto Node's response before the handler runs): the full browser set on pages,
 * OWASP's REST set on the API, `no-store` on all but static assets, HSTS with secure cookies, and
 * on error answers too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, startServerProcess } from '../helpers/browser.ts';
import { tempDir } from '../helpers/tmp.ts';

const PASSWORD = 'headers-admin-pw1';
const basic = { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` };
const PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";
const API_CSP = "default-src 'none'; frame-ancestors 'none'";

let plain: ServerProcess;
let secure: ServerProcess;
beforeAll(async () => {
  const env = { AIRLOCK_ADMIN_PASSWORD: PASSWORD };
  [plain, secure] = await Promise.all([
    startServerProcess({ ...env, AIRLOCK_HOME: tempDir() }, ['--no-worker']),
    startServerProcess({ ...env, AIRLOCK_HOME: tempDir() }, ['--no-worker', '--secure-cookies']),
  ]);
}, 60_000);
afterAll(async () => {
  await Promise.all([plain?.stop(), secure?.stop()]);
});

async function headersOf(url: string, init: RequestInit = {}): Promise<[number, Headers]> {
  const res = await fetch(url, { redirect: 'manual', ...init });
  await res.arrayBuffer();
  return [res.status, res.headers];
}

describe('security headers over HTTP', () => {
  it('sends pages the full browser set with the strict CSP and no-store', async () => {
    for (const path of ['/login', '/no-such-page']) {
      const [, h] = await headersOf(`${plain.url}${path}`);
      expect(h.get('content-security-policy')).toBe(PAGE_CSP);
      expect(h.get('cache-control')).toBe('no-store');
      expect(h.get('x-content-type-options')).toBe('nosniff');
      expect(h.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(h.get('referrer-policy')).toBe('same-origin');
      expect(h.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(h.get('strict-transport-security')).toBeNull();
    }
  });

  it('sends the API the REST set, on answers and on errors alike', async () => {
    const cases: [string, RequestInit, number][] = [
      ['/api/v1/variables', { headers: basic }, 200],
      ['/api/v1/variables', {}, 401],
      ['/api/v1/variables/missing', { headers: basic }, 404],
      ['/api/v2/variables', { headers: basic }, 200],
      ['/health', {}, 200],
      [
        '/auth/token',
        { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } },
        400,
      ],
    ];
    for (const [path, init, status] of cases) {
      const [got, h] = await headersOf(`${plain.url}${path}`, init);
      expect(`${path} ${got}`).toBe(`${path} ${status}`);
      expect(h.get('content-security-policy')).toBe(API_CSP);
      expect(h.get('cache-control')).toBe('no-store');
      expect(h.get('x-content-type-options')).toBe('nosniff');
      expect(h.get('x-frame-options')).toBe('DENY');
      expect(h.get('cross-origin-resource-policy')).toBe('same-origin');
      // The browser-only headers of pages are not repeated on JSON.
      expect(h.get('cross-origin-opener-policy')).toBeNull();
    }
  });

  it('lets static assets be cached, with the page headers', async () => {
    const [status, h] = await headersOf(`${plain.url}/static/app.css`);
    expect(status).toBe(200);
    expect(h.get('content-security-policy')).toBe(PAGE_CSP);
    expect(h.get('cache-control')).not.toBe('no-store');
  });

  it('adds HSTS to every answer with --secure-cookies', async () => {
    for (const path of ['/login', '/api/v1/variables', '/static/app.css']) {
      const [, h] = await headersOf(`${secure.url}${path}`, { headers: basic });
      expect(h.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
    }
  });
});
