/**
 * @module testing/fakes/_vault-router
 * The Vault double's HTTP side: request routing (token check, then sys/, auth/ or a KV mount)
 * and the handler that turns answers and errors into Vault-shaped responses.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { isRecord } from '../../util/json.ts';
import {
  FakeHttpError,
  type FaultInjector,
  readJsonBody,
  requestMethod,
  sendJson,
} from './_serve-fake.ts';
import { authApi } from './_vault-auth-methods.ts';
import { kv1, kv2 } from './_vault-kv.ts';
import { login } from './_vault-logins.ts';
import {
  type Ctx,
  envelope,
  findAuthMount,
  findMount,
  INVALID_TOKEN,
  namespaceFor,
  noRoute,
  PERMISSION_DENIED,
  trimSlashes,
  unsupported,
  type VaultFakeRequest,
  type VaultState,
} from './_vault-state.ts';
import { health, sys } from './_vault-sys.ts';
import { authorize, tokenApi, tokenIsLive } from './_vault-tokens.ts';

export async function route(ctx: Ctx): Promise<Record<string, unknown> | undefined> {
  const { path, method } = ctx;
  if (path === 'sys/health' || path === 'sys/seal-status') return health(ctx);

  // Logins (and other unauthenticated auth paths) need no token.
  if (path.startsWith('auth/') && !path.startsWith('auth/token/')) {
    const found = findAuthMount(ctx.ns, path.slice('auth/'.length));
    if (found && (found.rest === 'login' || found.rest.startsWith('login/'))) {
      if (method !== 'POST' && method !== 'PUT') throw unsupported();
      return login(ctx, found.auth, found.rest);
    }
  }

  const raw = ctx.req.headers['x-vault-token'];
  const id = typeof raw === 'string' ? raw : undefined;
  const token = id === undefined ? undefined : ctx.state.tokens.get(id);
  if (!token) throw new FakeHttpError(403, id === undefined ? PERMISSION_DENIED : INVALID_TOKEN);
  if (!tokenIsLive(ctx.state, token)) {
    ctx.state.tokens.delete(token.id);
    throw new FakeHttpError(403, INVALID_TOKEN);
  }
  if (!token.root && token.namespace !== ctx.ns.name) throw new FakeHttpError(403, INVALID_TOKEN);
  if (token.numUses > 0) {
    token.numUses -= 1;
    if (token.numUses === 0) ctx.state.tokens.delete(token.id);
  }
  ctx.token = token;

  if (path.startsWith('sys/')) return sys(ctx, path.slice(4));
  if (path.startsWith('auth/token/')) return tokenApi(ctx, path.slice('auth/token/'.length));
  if (path.startsWith('auth/')) {
    const found = findAuthMount(ctx.ns, path.slice('auth/'.length));
    authorize(ctx, path);
    if (!found) throw noRoute(path);
    return authApi(ctx, found.auth, found.rest);
  }
  const found = findMount(ctx.ns, path);
  if (found?.mount.type !== 'kv') {
    authorize(ctx, path);
    throw noRoute(path);
  }
  return found.mount.version === 1
    ? kv1(ctx, found.mount, found.rest)
    : kv2(ctx, found.mount, found.rest);
}
/**
 * The double's request handler: Vault's `LIST` (or `?list=true`), `X-Vault-Namespace`, fault
 * injection, and every answer recorded in `requests` (never a token or a body).
 */
export function createVaultHandler(
  state: VaultState,
  faults: FaultInjector,
  requests: VaultFakeRequest[],
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    await faults.delay();
    const url = new URL(req.url ?? '/', 'http://fake');
    let method = requestMethod(req).toUpperCase();
    if (method === 'GET' && url.searchParams.get('list') === 'true') method = 'LIST';
    const rawPath = url.pathname;
    const nsHeader = req.headers['x-vault-namespace'];
    const nsName = trimSlashes(typeof nsHeader === 'string' ? nsHeader : '');
    let path = '';
    const record = (status: number) => requests.push({ method, path, namespace: nsName, status });
    const fail = (status: number, errors: string[], extra: Record<string, unknown> = {}) => {
      record(status);
      sendJson(res, status, { errors, ...extra });
    };
    try {
      if (!rawPath.startsWith('/v1/')) {
        // Vault serves its UI and redirects elsewhere; an API client only ever sees 404 here.
        fail(404, []);
        return;
      }
      path = trimSlashes(
        rawPath
          .slice(4)
          .split('/')
          .map((s) => decodeURIComponent(s))
          .join('/'),
      );
      const injected = faults.takeFailure(path);
      if (injected !== undefined) {
        fail(injected, [`airlock fake: injected failure (HTTP ${injected})`]);
        return;
      }
      const parsed =
        ['POST', 'PUT', 'PATCH'].includes(method) ||
        (method === 'DELETE' && req.headers['content-length'] !== undefined)
          ? await readJsonBody(req)
          : undefined;
      if (parsed !== undefined && !isRecord(parsed))
        throw new FakeHttpError(400, 'the request body must be a JSON object');
      const ctx: Ctx = {
        state,
        req,
        res,
        method,
        path,
        query: url.searchParams,
        ns: namespaceFor(state, nsName),
        token: undefined,
        body: parsed ?? {},
      };
      const result = await route(ctx);
      if (result === undefined) {
        record(204);
        sendJson(res, 204);
      } else {
        record(200);
        sendJson(res, 200, result);
      }
    } catch (err) {
      if (err instanceof FakeHttpError) {
        const extra = err as FakeHttpError & { warnings?: string[]; data?: unknown };
        const errors = err.message === '' ? [] : [err.message];
        if (extra.data !== undefined) {
          // Vault answers a deleted KV v2 version with 404 and the version's metadata.
          record(err.status);
          sendJson(res, err.status, envelope(extra.data, { mount_type: 'kv' }));
          return;
        }
        fail(err.status, errors, extra.warnings ? { warnings: extra.warnings } : {});
        return;
      }
      if (err instanceof URIError) {
        fail(400, ['invalid path encoding']);
        return;
      }
      throw err;
    }
  };
}
