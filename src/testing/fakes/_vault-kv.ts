/**
 * @module testing/fakes/_vault-kv
 * The Vault double's KV secrets engine, versions 1 and 2: storage, `data/`, `metadata/`,
 * `delete`/`undelete`/`destroy`, `config`, check-and-set, and listing.
 */
import { isRecord } from '../../util/json.ts';
import { FakeHttpError } from './_serve-fake.ts';
import {
  type Ctx,
  DEFAULT_MAX_VERSIONS,
  envelope,
  findMount,
  isoTime,
  KV1_TTL_HINT,
  type KvV2Entry,
  type KvVersion,
  type Mount,
  type Namespace,
  newMount,
  parseBool,
  trimSlashes,
  unsupported,
  type VaultState,
} from './_vault-state.ts';
import { authorize } from './_vault-tokens.ts';

export function enableKv(ns: Namespace, path: string, version: 1 | 2, description = ''): void {
  const key = `${trimSlashes(path)}/`;
  if (key === '/') throw new FakeHttpError(400, 'mount path cannot be empty');
  for (const existing of ns.mounts.keys()) {
    if (existing.startsWith(key) || key.startsWith(existing)) {
      throw new FakeHttpError(400, `path is already in use at ${existing}`);
    }
  }
  ns.mounts.set(key, newMount(key, 'kv', version, description));
}

export function maxVersionsOf(mount: Mount, entry: KvV2Entry): number {
  return entry.maxVersions || mount.config.maxVersions || DEFAULT_MAX_VERSIONS;
}

export function kvWriteV2(
  s: VaultState,
  mount: Mount,
  path: string,
  data: Record<string, unknown>,
  cas?: number,
): KvVersion & { version: number } {
  let entry = mount.v2.get(path);
  const casRequired = mount.config.casRequired || (entry?.casRequired ?? false);
  if (casRequired && cas === undefined) {
    throw new FakeHttpError(400, 'check-and-set parameter required for this call');
  }
  if (cas !== undefined && cas !== (entry?.current ?? 0)) {
    throw new FakeHttpError(400, 'check-and-set parameter did not match the current version');
  }
  const t = s.now();
  if (!entry) {
    entry = {
      versions: new Map(),
      current: 0,
      oldest: 1,
      created: t,
      updated: t,
      maxVersions: 0,
      casRequired: false,
      customMetadata: null,
    };
    mount.v2.set(path, entry);
  }
  entry.current += 1;
  entry.updated = t;
  const version: KvVersion = {
    data: { ...data },
    created: t,
    deletionTime: undefined,
    destroyed: false,
  };
  entry.versions.set(entry.current, version);
  const max = maxVersionsOf(mount, entry);
  for (const v of [...entry.versions.keys()].sort((a, b) => a - b)) {
    if (entry.versions.size <= max) break;
    entry.versions.delete(v);
  }
  entry.oldest = Math.min(...entry.versions.keys());
  return { ...version, version: entry.current };
}

export function versionMetadata(
  entry: KvV2Entry,
  n: number,
  v: KvVersion,
): Record<string, unknown> {
  return {
    created_time: isoTime(v.created),
    custom_metadata: entry.customMetadata,
    deletion_time: v.deletionTime === undefined ? '' : isoTime(v.deletionTime),
    destroyed: v.destroyed,
    version: n,
  };
}

export function writeSecretAt(
  s: VaultState,
  ns: Namespace,
  logicalPath: string,
  data: Record<string, unknown>,
): void {
  const found = findMount(ns, trimSlashes(logicalPath));
  if (found?.mount.type !== 'kv' || found.rest === '') {
    throw new Error(`no KV mount holds \`${logicalPath}\``);
  }
  if (found.mount.version === 1) found.mount.v1.set(found.rest, { ...data });
  else kvWriteV2(s, found.mount, found.rest, data);
}

export function listKeys(paths: Iterable<string>, prefix: string): string[] {
  const base = prefix === '' ? '' : `${trimSlashes(prefix)}/`;
  const keys = new Set<string>();
  for (const path of paths) {
    if (!path.startsWith(base)) continue;
    const rest = path.slice(base.length);
    const slash = rest.indexOf('/');
    keys.add(slash === -1 ? rest : rest.slice(0, slash + 1));
  }
  return [...keys].filter((k) => k !== '').sort();
}
// ----- KV v1 and v2 ----------------------------------------------------------------------

export function kv1(ctx: Ctx, mount: Mount, rest: string): Record<string, unknown> | undefined {
  const full = `${mount.path}${rest}`;
  const exists = mount.v1.has(rest);
  authorize(ctx, full, exists);
  const extra = { mount_type: 'kv' };
  switch (ctx.method) {
    case 'GET': {
      const data = mount.v1.get(rest);
      if (!data) throw new FakeHttpError(404, '');
      return envelope({ ...data }, { ...extra, lease_duration: KV1_TTL_HINT });
    }
    case 'LIST': {
      const keys = listKeys(mount.v1.keys(), rest);
      if (keys.length === 0) throw new FakeHttpError(404, '');
      return envelope({ keys }, extra);
    }
    case 'POST':
    case 'PUT':
      if (rest === '') throw new FakeHttpError(405, '1 error occurred:\n\t* unsupported path\n\n');
      mount.v1.set(rest, { ...ctx.body });
      return undefined;
    case 'DELETE':
      mount.v1.delete(rest);
      return undefined;
    default:
      throw unsupported();
  }
}

/** One KV v2 request: the mount, the API area (`data`, `metadata`, …) and the secret's path. */
interface Kv2Request {
  mount: Mount;
  area: string;
  path: string;
  full: string;
  extra: { mount_type: 'kv' };
  entry: KvV2Entry | undefined;
}

/** `<mount>/config`: the mount's `max_versions` and `cas_required`. */
function kv2Config(ctx: Ctx, req: Kv2Request): Record<string, unknown> | undefined {
  const { mount, full, extra } = req;
  const { method, body } = ctx;
  authorize(ctx, full, true);
  if (method === 'GET') {
    return envelope(
      {
        cas_required: mount.config.casRequired,
        delete_version_after: '0s',
        max_versions: mount.config.maxVersions,
      },
      extra,
    );
  }
  if (body.max_versions !== undefined) mount.config.maxVersions = Number(body.max_versions);
  if (body.cas_required !== undefined)
    mount.config.casRequired = parseBool(body.cas_required, false);
  return undefined;
}

/** `<mount>/data/<path>` and `subkeys/<path>`: read a version, write, patch, soft-delete. */
function kv2Data(ctx: Ctx, req: Kv2Request): Record<string, unknown> | undefined {
  const { mount, area, path, extra, entry } = req;
  const { method, body } = ctx;
  if (method === 'GET') {
    if (!entry) throw new FakeHttpError(404, '');
    const wanted = Number(ctx.query.get('version') ?? 0) || entry.current;
    const v = entry.versions.get(wanted);
    if (!v) throw new FakeHttpError(404, '');
    const metadata = versionMetadata(entry, wanted, v);
    if (v.deletionTime !== undefined || v.destroyed) {
      throw Object.assign(new FakeHttpError(404, ''), { data: { data: null, metadata } });
    }
    if (area === 'subkeys') {
      const subkeys = Object.fromEntries(Object.keys(v.data).map((k) => [k, null]));
      return envelope({ subkeys, metadata }, extra);
    }
    return envelope({ data: { ...v.data }, metadata }, extra);
  }
  if (method === 'POST' || method === 'PUT') {
    if (path === '') throw new FakeHttpError(405, '1 error occurred:\n\t* unsupported path\n\n');
    if (!isRecord(body.data)) throw new FakeHttpError(400, 'no data provided');
    const options = isRecord(body.options) ? body.options : {};
    const cas = options.cas === undefined ? undefined : Number(options.cas);
    const written = kvWriteV2(ctx.state, mount, path, body.data, cas);
    return envelope(
      versionMetadata(mount.v2.get(path) as KvV2Entry, written.version, written),
      extra,
    );
  }
  if (method === 'PATCH') {
    const latest = entry?.versions.get(entry.current);
    if (!entry || !latest || latest.deletionTime !== undefined || latest.destroyed) {
      throw new FakeHttpError(404, '');
    }
    if (!isRecord(body.data)) throw new FakeHttpError(400, 'no data provided');
    const merged = mergePatch(latest.data, body.data);
    const options = isRecord(body.options) ? body.options : {};
    const cas = options.cas === undefined ? undefined : Number(options.cas);
    const written = kvWriteV2(ctx.state, mount, path, merged, cas);
    return envelope(versionMetadata(entry, written.version, written), extra);
  }
  if (method === 'DELETE') {
    const latest = entry?.versions.get(entry.current);
    if (latest && latest.deletionTime === undefined) latest.deletionTime = ctx.state.now();
    return undefined;
  }
  throw unsupported();
}

/** `<mount>/metadata/<path>`: list, read the versions, delete everything, set the settings. */
function kv2Metadata(ctx: Ctx, req: Kv2Request): Record<string, unknown> | undefined {
  const { mount, path, extra, entry } = req;
  const { method, body } = ctx;
  if (method === 'LIST') {
    const keys = listKeys(mount.v2.keys(), path);
    if (keys.length === 0) throw new FakeHttpError(404, '');
    return envelope({ keys }, extra);
  }
  if (method === 'GET') {
    if (!entry) throw new FakeHttpError(404, '');
    const versions = Object.fromEntries(
      [...entry.versions].map(([n, v]) => {
        const { version: _v, custom_metadata: _c, ...rest } = versionMetadata(entry, n, v);
        return [String(n), rest];
      }),
    );
    return envelope(
      {
        cas_required: entry.casRequired,
        created_time: isoTime(entry.created),
        current_version: entry.current,
        custom_metadata: entry.customMetadata,
        delete_version_after: '0s',
        max_versions: entry.maxVersions,
        oldest_version: entry.oldest,
        updated_time: isoTime(entry.updated),
        versions,
      },
      extra,
    );
  }
  if (method === 'DELETE') {
    mount.v2.delete(path);
    return undefined;
  }
  if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
    let target = entry;
    if (!target) {
      const t = ctx.state.now();
      target = {
        versions: new Map(),
        current: 0,
        oldest: 0,
        created: t,
        updated: t,
        maxVersions: 0,
        casRequired: false,
        customMetadata: null,
      };
      mount.v2.set(path, target);
    }
    if (body.max_versions !== undefined) target.maxVersions = Number(body.max_versions);
    if (body.cas_required !== undefined) target.casRequired = parseBool(body.cas_required, false);
    if (isRecord(body.custom_metadata)) {
      target.customMetadata = Object.fromEntries(
        Object.entries(body.custom_metadata).map(([k, v]) => [k, String(v)]),
      );
    }
    return undefined;
  }
  throw unsupported();
}

/** `<mount>/delete|undelete|destroy/<path>`: POST `{versions: [...]}`. */
function kv2Versions(ctx: Ctx, req: Kv2Request): Record<string, unknown> | undefined {
  const { area, entry } = req;
  const { method, body } = ctx;
  if (method !== 'POST' && method !== 'PUT') throw unsupported();
  const versions = Array.isArray(body.versions) ? body.versions.map(Number) : [];
  if (versions.length === 0) throw new FakeHttpError(400, 'no version number provided');
  for (const n of versions) {
    const v = entry?.versions.get(n);
    if (!v) continue;
    if (area === 'delete' && v.deletionTime === undefined) v.deletionTime = ctx.state.now();
    if (area === 'undelete' && !v.destroyed) v.deletionTime = undefined;
    if (area === 'destroy') {
      v.destroyed = true;
      v.data = {};
    }
  }
  return undefined;
}

export function kv2(ctx: Ctx, mount: Mount, rest: string): Record<string, unknown> | undefined {
  const slash = rest.indexOf('/');
  const area = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash + 1);
  const full = `${mount.path}${rest}`;
  const entry = mount.v2.get(path);
  const req: Kv2Request = { mount, area, path, full, extra: { mount_type: 'kv' }, entry };
  if (area === 'config') {
    authorize(ctx, full, true);
    return kv2Config(ctx, req);
  }
  if (!['data', 'metadata', 'delete', 'undelete', 'destroy', 'subkeys'].includes(area)) {
    // What a KV v1 client gets from a v2 mount.
    authorize(ctx, full, false);
    throw Object.assign(new FakeHttpError(404, ''), {
      warnings: [
        "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.",
      ],
    });
  }
  const liveEntry = entry && entry.versions.size > 0 ? entry : undefined;
  authorize(ctx, full, area === 'data' ? liveEntry !== undefined : true);
  if (area === 'data' || area === 'subkeys') return kv2Data(ctx, req);
  if (area === 'metadata') return kv2Metadata(ctx, req);
  return kv2Versions(ctx, req);
}
/** RFC 7386 JSON merge patch, as KV v2's `PATCH` applies it. */
export function mergePatch(
  target: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (isRecord(value) && isRecord(out[key]))
      out[key] = mergePatch(out[key] as Record<string, unknown>, value);
    else out[key] = value;
  }
  return out;
}
