/**
 * @module testing/fakes/_vault-sys
 * The Vault double's `sys/` API: health and seal status, secret-engine and auth mounts (and
 * tuning), ACL policies, namespaces, `capabilities-self`, the UI's mount preflight.
 */
import { isRecord } from '../../util/json.ts';
import { FakeHttpError } from './_serve-fake.ts';
import { parsePolicy, trimSlashesStart } from './_vault-acl.ts';
import { enableKv, kvWriteV2 } from './_vault-kv.ts';
import {
  type Ctx,
  createNamespace,
  envelope,
  findMount,
  mountInfo,
  type Namespace,
  newAuthMount,
  noRoute,
  parseList,
  SYSTEM_MAX_TTL,
  trimSlashes,
  unsupported,
} from './_vault-state.ts';
import { authorize, capabilityList, rulesOf } from './_vault-tokens.ts';

/** The version the fake reports in `sys/health`. */
const VERSION = '1.17.0+airlock.fake';

export function writePolicy(ns: Namespace, rawName: string, text: string): void {
  const name = rawName.toLowerCase();
  if (name === 'root') throw new FakeHttpError(400, 'cannot update "root" policy');
  if (name === '') throw new FakeHttpError(400, 'policy name must be provided');
  ns.policies.set(name, { text, rules: parsePolicy(text) });
}
export function health(ctx: Ctx): Record<string, unknown> {
  if (ctx.path === 'sys/seal-status') {
    return {
      type: 'shamir',
      initialized: true,
      sealed: false,
      t: 1,
      n: 1,
      progress: 0,
      nonce: '',
      version: VERSION,
      build_date: '2024-01-01T00:00:00Z',
      migration: false,
      cluster_name: 'vault-cluster-airlock-fake',
      cluster_id: ctx.state.clusterId,
      recovery_seal: false,
      storage_type: 'inmem',
    };
  }
  return {
    initialized: true,
    sealed: false,
    standby: false,
    performance_standby: false,
    replication_performance_mode: 'disabled',
    replication_dr_mode: 'disabled',
    server_time_utc: Math.floor(ctx.state.now() / 1000),
    version: VERSION,
    enterprise: false,
    cluster_name: 'vault-cluster-airlock-fake',
    cluster_id: ctx.state.clusterId,
    echo_duration_ms: 0,
    clock_skew_ms: 0,
  };
}

// ----- sys/ ------------------------------------------------------------------------------

export function sys(ctx: Ctx, rest: string): Record<string, unknown> | undefined {
  const { method, ns, body } = ctx;
  const full = `sys/${rest}`;

  if (rest.startsWith('internal/ui/mounts')) {
    const target = trimSlashes(rest.slice('internal/ui/mounts'.length));
    if (target === '') {
      const secret = Object.fromEntries([...ns.mounts].map(([p, m]) => [p, mountInfo(m)]));
      const auth = Object.fromEntries([...ns.auths].map(([p, a]) => [p, mountInfo(a)]));
      return envelope({ secret, auth });
    }
    const found = findMount(ns, target);
    const rules = ctx.token ? rulesOf(ctx.token, ns) : [];
    const visible =
      found !== undefined &&
      (rules === undefined ||
        rules.some(
          (r) =>
            !r.capabilities.has('deny') &&
            r.capabilities.size > 0 &&
            (r.pattern.startsWith(found.mount.path) ||
              found.mount.path.startsWith(r.pattern.replace(/\*$/, ''))),
        ));
    if (!found || !visible) {
      throw new FakeHttpError(
        403,
        'preflight capability check returned 403, please ensure client\'s policies grant access to path "' +
          `${target}/"`,
      );
    }
    return envelope({ ...mountInfo(found.mount), path: found.mount.path });
  }

  if (rest === 'capabilities-self') {
    authorize(ctx, full, true);
    const paths = parseList(body.paths ?? body.path);
    const result: Record<string, string[]> = {};
    for (const p of paths) result[p] = capabilityList(ctx, trimSlashesStart(p));
    const first = paths[0];
    const caps = first === undefined ? [] : (result[first] ?? []);
    return envelope({ ...result, capabilities: caps }, { ...result, capabilities: caps });
  }

  if (rest === 'mounts' || rest === 'auth') {
    if (method !== 'GET') throw unsupported();
    authorize(ctx, full);
    const table = rest === 'mounts' ? ns.mounts : ns.auths;
    const data = Object.fromEntries([...table].map(([p, m]) => [p, mountInfo(m)]));
    return envelope(data, data);
  }

  const mountMatch = /^(mounts|auth)\/(.+)$/.exec(rest);
  if (mountMatch) {
    const [, kind, rawPath] = mountMatch as unknown as [string, string, string];
    if (rawPath.endsWith('/tune')) {
      authorize(ctx, full);
      const target = `${trimSlashes(rawPath.slice(0, -'/tune'.length))}/`;
      const mount = ns.mounts.get(target);
      if (
        kind === 'mounts' &&
        mount &&
        isRecord(body.options) &&
        body.options.version !== undefined
      ) {
        const version = Number(body.options.version);
        if (mount.type === 'kv' && version === 2 && mount.version === 1) {
          for (const [p, data] of mount.v1) kvWriteV2(ctx.state, mount, p, data);
          mount.v1.clear();
          mount.version = 2;
        }
      }
      if (method === 'GET') {
        return envelope({ default_lease_ttl: SYSTEM_MAX_TTL, max_lease_ttl: SYSTEM_MAX_TTL });
      }
      return undefined;
    }
    const key = `${trimSlashes(rawPath)}/`;
    authorize(ctx, full);
    if (method === 'DELETE') {
      if (kind === 'mounts') ns.mounts.delete(key);
      else if (key !== 'token/') ns.auths.delete(key);
      return undefined;
    }
    if (method === 'GET') {
      const m = kind === 'mounts' ? ns.mounts.get(key) : ns.auths.get(key);
      if (!m) throw new FakeHttpError(400, `No secret engine mount at ${key}`);
      return envelope(mountInfo(m));
    }
    if (method !== 'POST' && method !== 'PUT') throw unsupported();
    const type = String(body.type ?? '');
    const description = typeof body.description === 'string' ? body.description : '';
    if (kind === 'mounts') {
      if (type !== 'kv' && type !== 'kv-v2' && type !== 'generic') {
        throw new FakeHttpError(400, `plugin not found in the catalog: ${type}`);
      }
      const options = isRecord(body.options) ? body.options : {};
      const version = type === 'kv-v2' || String(options.version ?? '1') === '2' ? 2 : 1;
      enableKv(ns, key, version, description);
      return undefined;
    }
    if (
      ![
        'approle',
        'userpass',
        'ldap',
        'radius',
        'kubernetes',
        'jwt',
        'oidc',
        'aws',
        'gcp',
        'azure',
      ].includes(type)
    ) {
      throw new FakeHttpError(400, `plugin not found in the catalog: ${type}`);
    }
    if (ns.auths.has(key)) throw new FakeHttpError(400, `path is already in use at ${key}`);
    ns.auths.set(key, newAuthMount(key, type, description));
    return undefined;
  }

  const policyMatch = /^(policy|policies\/acl)(?:\/(.+))?$/.exec(rest);
  if (policyMatch) {
    authorize(
      ctx,
      full,
      ctx.method === 'GET' || ns.policies.has(String(policyMatch[2] ?? '').toLowerCase()),
    );
    const legacy = policyMatch[1] === 'policy';
    const name = policyMatch[2]?.toLowerCase();
    const names = ['root', ...[...ns.policies.keys()].filter((n) => n !== 'root')].sort();
    if (name === undefined) {
      if (method !== 'GET' && method !== 'LIST') throw unsupported();
      const keys = legacy ? names : names.filter((n) => n !== 'root');
      return legacy
        ? envelope({ keys, policies: keys }, { keys, policies: keys })
        : envelope({ keys });
    }
    if (method === 'GET') {
      if (name === 'root')
        return legacy
          ? envelope({ name, rules: '' }, { name, rules: '' })
          : envelope({ name, policy: '' });
      const p = ns.policies.get(name);
      if (!p) throw new FakeHttpError(404, '');
      return legacy
        ? envelope({ name, rules: p.text }, { name, rules: p.text })
        : envelope({ name, policy: p.text });
    }
    if (method === 'DELETE') {
      if (name === 'default' || name === 'root') {
        throw new FakeHttpError(400, `cannot delete "${name}" policy`);
      }
      ns.policies.delete(name);
      return undefined;
    }
    if (method !== 'POST' && method !== 'PUT') throw unsupported();
    const text = body.policy ?? body.rules;
    if (typeof text !== 'string')
      throw new FakeHttpError(400, "'policy' parameter not supplied or empty");
    writePolicy(ns, name, text);
    return undefined;
  }

  const nsMatch = /^namespaces(?:\/(.+))?$/.exec(rest);
  if (nsMatch) {
    authorize(ctx, full, ctx.method === 'GET');
    const prefix = ns.name === '' ? '' : `${ns.name}/`;
    const children = [...ctx.state.namespaces.keys()]
      .filter((n) => n !== '' && n.startsWith(prefix) && !n.slice(prefix.length).includes('/'))
      .map((n) => `${n.slice(prefix.length)}/`);
    if (nsMatch[1] === undefined) {
      if (method !== 'LIST' && method !== 'GET') throw unsupported();
      if (children.length === 0) throw new FakeHttpError(404, '');
      return envelope({ keys: children.sort() });
    }
    const child = `${prefix}${trimSlashes(nsMatch[1])}`;
    const info = (n: Namespace) => ({
      id: n.name.replaceAll('/', '_'),
      path: `${n.name}/`,
      custom_metadata: {},
    });
    if (method === 'GET') {
      const found = ctx.state.namespaces.get(child);
      if (!found) throw new FakeHttpError(404, '');
      return envelope(info(found));
    }
    if (method === 'DELETE') {
      ctx.state.namespaces.delete(child);
      return undefined;
    }
    if (method !== 'POST' && method !== 'PUT') throw unsupported();
    return envelope(info(ctx.state.namespaces.get(child) ?? createNamespace(ctx.state, child)));
  }

  authorize(ctx, full);
  throw noRoute(full);
}
