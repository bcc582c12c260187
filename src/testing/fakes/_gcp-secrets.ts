/**
 * @module testing/fakes/_gcp-secrets
 * The Google Secret Manager double's secrets: resource names, versions and their states,
 * checksums, paging, and the RPC handlers both transports (gRPC and REST) call.
 */
import { crc32c } from '../../backends/_crc32c.ts';

export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** A gRPC status by name, such as `UNAVAILABLE`. */
export type GrpcStatusName = keyof typeof GRPC_STATUS;

export type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';

export interface Timestamp {
  seconds: string;
  nanos: number;
}

export interface StoredVersion {
  number: number;
  state: VersionState;
  data: Buffer | null;
  crc: number;
  createTime: Timestamp;
  destroyTime: Timestamp | null;
  clientSpecifiedPayloadChecksum: boolean;
  etag: string;
}

export interface StoredSecret {
  name: string;
  secret: Record<string, unknown>;
  createTime: Timestamp;
  etag: string;
  versions: StoredVersion[];
}

export const SECRET_ID = /^[a-zA-Z0-9_-]{1,255}$/;
export const RESOURCE_FIELDS: Readonly<Record<string, 'name' | 'parent'>> = {
  CreateSecret: 'parent',
  GetSecret: 'name',
  ListSecrets: 'parent',
  DeleteSecret: 'name',
  AddSecretVersion: 'parent',
  ListSecretVersions: 'parent',
  GetSecretVersion: 'name',
  AccessSecretVersion: 'name',
  DisableSecretVersion: 'name',
  EnableSecretVersion: 'name',
  DestroySecretVersion: 'name',
};
export const MAX_PAYLOAD_BYTES = 65_536;

export class FakeStatus extends Error {
  readonly code: number;

  constructor(code: number, message: string) {
    super(message);
    this.name = 'FakeStatus';
    this.code = code;
  }
}

export const fail = (code: GrpcStatusName, message: string) =>
  new FakeStatus(GRPC_STATUS[code], message);

export function now(): Timestamp {
  const ms = Date.now();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

let etagCounter = 0;
export function nextEtag(): string {
  etagCounter += 1;
  return `"${Date.now().toString(16)}${etagCounter.toString(16).padStart(4, '0')}"`;
}

export function parseProject(parent: string): string {
  const m = /^projects\/([^/]+)$/.exec(parent);
  if (!m?.[1]) {
    throw fail(
      'INVALID_ARGUMENT',
      `Invalid resource field value in the request: parent [${parent}]`,
    );
  }
  return m[1];
}

export function parseSecretName(name: string): { project: string; secretId: string; name: string } {
  const m = /^projects\/([^/]+)\/secrets\/([^/]+)$/.exec(name);
  if (!m?.[1] || !m[2] || !SECRET_ID.test(m[2])) {
    throw fail('INVALID_ARGUMENT', `Invalid resource field value in the request: name [${name}]`);
  }
  return { project: m[1], secretId: m[2], name };
}

export function parseVersionName(name: string): { secret: string; version: string } {
  const m = /^(projects\/[^/]+\/secrets\/[^/]+)\/versions\/([^/]+)$/.exec(name);
  if (!m?.[1] || !m[2] || !(m[2] === 'latest' || /^[1-9][0-9]*$/.test(m[2]))) {
    throw fail('INVALID_ARGUMENT', `Invalid resource field value in the request: name [${name}]`);
  }
  parseSecretName(m[1]);
  return { secret: m[1], version: m[2] };
}

export function pageOf<T>(
  items: T[],
  pageSize: number,
  pageToken: string,
): { page: T[]; next: string } {
  let start = 0;
  if (pageToken !== '') {
    start = Number.parseInt(Buffer.from(pageToken, 'base64url').toString('utf8'), 10);
    if (!Number.isInteger(start) || start < 0 || start > items.length) {
      throw fail('INVALID_ARGUMENT', 'Invalid page token.');
    }
  }
  if (pageSize < 0) throw fail('INVALID_ARGUMENT', 'page_size must be positive.');
  const size = pageSize === 0 ? 25_000 : Math.min(pageSize, 25_000);
  const end = start + size;
  return {
    page: items.slice(start, end),
    next: end < items.length ? Buffer.from(String(end), 'utf8').toString('base64url') : '',
  };
}

export function secretView(s: StoredSecret): Record<string, unknown> {
  return { ...s.secret, name: s.name, createTime: s.createTime, etag: s.etag };
}

export function versionView(s: StoredSecret, v: StoredVersion): Record<string, unknown> {
  return {
    name: `${s.name}/versions/${v.number}`,
    createTime: v.createTime,
    ...(v.destroyTime ? { destroyTime: v.destroyTime } : {}),
    state: v.state,
    etag: v.etag,
    clientSpecifiedPayloadChecksum: v.clientSpecifiedPayloadChecksum,
  };
}

/** One RPC's handler, taking the request as proto-loader decodes it. */
export type Handler = (request: Record<string, unknown>) => unknown;

const str = (v: unknown) => (typeof v === 'string' ? v : '');

/** Every secret of every project the double holds, by resource name. */
export class GcpSecretStore {
  readonly secrets = new Map<string, StoredSecret>();
  /** How many more `AccessSecretVersion` answers carry a wrong checksum. */
  corruptChecksums = 0;

  getSecret(name: string): StoredSecret {
    const secret = this.secrets.get(name);
    if (!secret) throw fail('NOT_FOUND', `Secret [${name}] not found.`);
    return secret;
  }

  findVersion(secret: StoredSecret, version: string, fullName: string): StoredVersion {
    const found =
      version === 'latest'
        ? secret.versions.at(-1)
        : secret.versions.find((v) => v.number === Number(version));
    if (!found) {
      if (version === 'latest') {
        throw fail('NOT_FOUND', `Secret [${secret.name}] not found or has no versions.`);
      }
      throw fail('NOT_FOUND', `Secret Version [${fullName}] not found.`);
    }
    return found;
  }

  createSecret(parent: string, secretId: string, secret: Record<string, unknown>) {
    parseProject(parent);
    if (!SECRET_ID.test(secretId)) {
      throw fail(
        'INVALID_ARGUMENT',
        'Secret id must be 1-255 characters of letters, digits, underscores and hyphens.',
      );
    }
    const replication = secret.replication as Record<string, unknown> | null | undefined;
    if (!replication || (!replication.automatic && !replication.userManaged)) {
      throw fail('INVALID_ARGUMENT', 'Secret.replication must be specified.');
    }
    const name = `${parent}/secrets/${secretId}`;
    if (this.secrets.has(name)) throw fail('ALREADY_EXISTS', `Secret [${name}] already exists.`);
    const stored: StoredSecret = {
      name,
      secret: { replication, labels: secret.labels ?? {}, annotations: secret.annotations ?? {} },
      createTime: now(),
      etag: nextEtag(),
      versions: [],
    };
    this.secrets.set(name, stored);
    return stored;
  }

  addVersion(parent: string, data: Buffer, checksum: string | null): StoredVersion {
    parseSecretName(parent);
    const secret = this.getSecret(parent);
    if (data.length > MAX_PAYLOAD_BYTES) {
      throw fail('INVALID_ARGUMENT', 'Secret payload data must be no larger than 64KiB.');
    }
    const crc = crc32c(data);
    if (checksum !== null && BigInt(checksum) !== BigInt(crc)) {
      throw fail('INVALID_ARGUMENT', 'Checksum mismatch: the data_crc32c does not match the data.');
    }
    const version: StoredVersion = {
      number: (secret.versions.at(-1)?.number ?? 0) + 1,
      state: 'ENABLED',
      data: Buffer.from(data),
      crc,
      createTime: now(),
      destroyTime: null,
      clientSpecifiedPayloadChecksum: checksum !== null,
      etag: nextEtag(),
    };
    secret.versions.push(version);
    return version;
  }

  seed(values: Readonly<Record<string, string>>, project: string): void {
    for (const [secretId, value] of Object.entries(values)) {
      const name = `projects/${project}/secrets/${secretId}`;
      if (!this.secrets.has(name)) {
        this.createSecret(`projects/${project}`, secretId, { replication: { automatic: {} } });
      }
      this.addVersion(name, Buffer.from(value, 'utf8'), null);
    }
  }

  changeState(fullName: string, etag: string, state: VersionState) {
    const { secret: secretName, version } = parseVersionName(fullName);
    const secret = this.getSecret(secretName);
    const found = this.findVersion(secret, version, fullName);
    if (etag !== '' && etag !== found.etag) {
      throw fail('ABORTED', `The etag does not match the current etag of [${fullName}].`);
    }
    if (found.state === 'DESTROYED') {
      throw fail(
        'FAILED_PRECONDITION',
        `Secret Version [${secret.name}/versions/${found.number}] is in DESTROYED state.`,
      );
    }
    found.state = state;
    found.etag = nextEtag();
    if (state === 'DESTROYED') {
      found.data = null;
      found.destroyTime = now();
    }
    return versionView(secret, found);
  }

  /** The RPCs by name, each taking the request as proto-loader decodes it. */
  readonly handlers: Readonly<Record<string, Handler>> = {
    CreateSecret: (req) => {
      const stored = this.createSecret(
        str(req.parent),
        str(req.secretId),
        (req.secret as Record<string, unknown> | null) ?? {},
      );
      return secretView(stored);
    },
    GetSecret: (req) => {
      const { name } = parseSecretName(str(req.name));
      return secretView(this.getSecret(name));
    },
    ListSecrets: (req) => {
      const parent = str(req.parent);
      parseProject(parent);
      const filter = str(req.filter);
      const nameFilter = /^name:(\S+)$/.exec(filter);
      if (filter !== '' && !nameFilter) {
        throw fail('INVALID_ARGUMENT', 'The fake supports only `name:<text>` filters.');
      }
      const all = [...this.secrets.values()]
        .filter((s) => s.name.startsWith(`${parent}/secrets/`))
        .filter((s) => !nameFilter?.[1] || s.name.includes(nameFilter[1]))
        .sort((a, b) => a.name.localeCompare(b.name));
      const { page, next } = pageOf(all, Number(req.pageSize ?? 0), str(req.pageToken));
      return { secrets: page.map(secretView), nextPageToken: next, totalSize: all.length };
    },
    DeleteSecret: (req) => {
      const { name } = parseSecretName(str(req.name));
      const secret = this.getSecret(name);
      const etag = str(req.etag);
      if (etag !== '' && etag !== secret.etag) {
        throw fail('ABORTED', `The etag does not match the current etag of Secret [${name}].`);
      }
      this.secrets.delete(name);
      return {};
    },
    AddSecretVersion: (req) => {
      const parent = str(req.parent);
      const payload = (req.payload as { data?: Buffer; dataCrc32c?: string | null } | null) ?? {};
      const checksum =
        payload.dataCrc32c === undefined || payload.dataCrc32c === null
          ? null
          : String(payload.dataCrc32c);
      const version = this.addVersion(parent, payload.data ?? Buffer.alloc(0), checksum);
      return versionView(this.getSecret(parent), version);
    },
    ListSecretVersions: (req) => {
      const { name } = parseSecretName(str(req.parent));
      const secret = this.getSecret(name);
      const all = [...secret.versions].reverse();
      const { page, next } = pageOf(all, Number(req.pageSize ?? 0), str(req.pageToken));
      return {
        versions: page.map((v) => versionView(secret, v)),
        nextPageToken: next,
        totalSize: all.length,
      };
    },
    GetSecretVersion: (req) => {
      const fullName = str(req.name);
      const { secret: secretName, version } = parseVersionName(fullName);
      const secret = this.getSecret(secretName);
      return versionView(secret, this.findVersion(secret, version, fullName));
    },
    AccessSecretVersion: (req) => {
      const fullName = str(req.name);
      const { secret: secretName, version } = parseVersionName(fullName);
      const secret = this.secrets.get(secretName);
      if (!secret) throw fail('NOT_FOUND', `Secret [${secretName}] not found or has no versions.`);
      const found = this.findVersion(secret, version, fullName);
      const resolved = `${secret.name}/versions/${found.number}`;
      if (found.state !== 'ENABLED' || found.data === null) {
        throw fail(
          'FAILED_PRECONDITION',
          `Secret Version [${resolved}] is in ${found.state} state.`,
        );
      }
      let crc = found.crc;
      if (this.corruptChecksums > 0) {
        this.corruptChecksums -= 1;
        crc = (crc ^ 0x1) >>> 0;
      }
      return { name: resolved, payload: { data: found.data, dataCrc32c: String(crc) } };
    },
    DisableSecretVersion: (req) => this.changeState(str(req.name), str(req.etag), 'DISABLED'),
    EnableSecretVersion: (req) => this.changeState(str(req.name), str(req.etag), 'ENABLED'),
    DestroySecretVersion: (req) => this.changeState(str(req.name), str(req.etag), 'DESTROYED'),
  };
}
