/**
 * @module testing/fakes/_azure-secrets
 * The Azure Key Vault double's secrets: versions, soft delete and recovery, paging, the
 * `secrets/` and `deletedsecrets/` REST routes, and Key Vault's error shape.
 */

import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { AZURE_KEY_VAULT_API_VERSIONS } from '../../backends/azure-key-vault.ts';
import { isRecord } from '../../util/json.ts';
import { FakeHttpError, readJsonBody } from './_serve-fake.ts';

/** The `api-version` values the fake accepts (those the installed SDK can send). */
export const KEY_VAULT_API_VERSIONS = AZURE_KEY_VAULT_API_VERSIONS;

/** The resource Key Vault names in its bearer challenge (the token's audience). */
export const KEY_VAULT_RESOURCE = 'https://vault.azure.net';

/** What Key Vault accepts as a secret name: 1 to 127 letters, digits and hyphens. */
export const KEY_VAULT_SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;

/** The largest secret value Key Vault stores (25 KiB). */
export const KEY_VAULT_MAX_VALUE_BYTES = 25 * 1024;

/** The tenant the fake names in its challenge unless told otherwise. */
export const FAKE_TENANT_ID = '00000000-0000-4000-8000-00000000a1c0';

export const RECOVERY_LEVEL = 'Recoverable+Purgeable';
export const RECOVERABLE_DAYS = 90;
export const MAX_PAGE = 25;

/** Attributes of a stored version, as {@link AzureKeyVaultFake.setSecret} takes them. */
export interface FakeSecretOptions {
  contentType?: string;
  tags?: Record<string, string>;
  /** @default true */
  enabled?: boolean;
}

export interface StoredVersion {
  id: string;
  value: string;
  contentType: string | undefined;
  tags: Record<string, string> | undefined;
  enabled: boolean;
  nbf: number | undefined;
  exp: number | undefined;
  created: number;
  updated: number;
}

export interface StoredSecret {
  /** The name as first created (Key Vault names are case-insensitive but keep their case). */
  name: string;
  versions: StoredVersion[];
}

export interface DeletedSecret {
  secret: StoredSecret;
  deletedDate: number;
  scheduledPurgeDate: number;
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);
export const newVersionId = () => randomBytes(16).toString('hex');

export class KeyVaultError extends FakeHttpError {
  readonly code: string;
  readonly headers: Record<string, string>;
  readonly innerCode: string | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    headers: Record<string, string> = {},
    innerCode?: string,
  ) {
    super(status, message);
    this.code = code;
    this.headers = headers;
    this.innerCode = innerCode;
  }
}

export function stringRecord(value: unknown, what: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new KeyVaultError(400, 'BadParameter', `Property ${what} must map strings to strings.`);
  }
  return value as Record<string, string>;
}

export function optionalSeconds(value: unknown, what: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new KeyVaultError(400, 'BadParameter', `Property ${what} must be a Unix time.`);
  }
  return value;
}

export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new KeyVaultError(400, 'BadParameter', 'The request URI is not valid.');
  }
}

export function checkName(name: string): void {
  if (!KEY_VAULT_SECRET_NAME.test(name)) {
    throw new KeyVaultError(
      400,
      'BadParameter',
      'The request URI contains an invalid name. Secret names may contain only 0-9, a-z, A-Z and -.',
    );
  }
}

export function statusCode(status: number): { code: string; message: string } {
  switch (status) {
    case 400:
      return { code: 'BadParameter', message: 'The request is invalid.' };
    case 401:
      return { code: 'Unauthorized', message: 'AKV10032: Invalid issuer.' };
    case 403:
      return {
        code: 'Forbidden',
        message:
          "Caller is not authorized to perform action on resource. Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'",
      };
    case 404:
      return { code: 'NotFound', message: 'The requested resource was not found.' };
    case 409:
      return { code: 'Conflict', message: 'The request conflicts with the vault state.' };
    case 429:
      return {
        code: 'Throttled',
        message:
          'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached',
      };
    case 500:
      return { code: 'InternalServerError', message: 'An internal error occurred.' };
    case 502:
      return { code: 'BadGateway', message: 'Bad gateway.' };
    case 503:
      return { code: 'ServiceUnavailable', message: 'The service is unavailable.' };
    case 504:
      return { code: 'GatewayTimeout', message: 'The gateway timed out.' };
    default:
      return { code: 'Error', message: `HTTP ${status}.` };
  }
}

export function attributes(v: StoredVersion): Record<string, unknown> {
  return {
    enabled: v.enabled,
    ...(v.nbf === undefined ? {} : { nbf: v.nbf }),
    ...(v.exp === undefined ? {} : { exp: v.exp }),
    created: v.created,
    updated: v.updated,
    recoveryLevel: RECOVERY_LEVEL,
    recoverableDays: RECOVERABLE_DAYS,
  };
}

export function bundle(base: string, s: StoredSecret, v: StoredVersion, withValue: boolean) {
  return {
    ...(withValue ? { value: v.value } : {}),
    ...(v.contentType === undefined ? {} : { contentType: v.contentType }),
    id: `${base}/secrets/${s.name}/${v.id}`,
    attributes: attributes(v),
    ...(v.tags === undefined ? {} : { tags: v.tags }),
  };
}

export function deletedBundle(base: string, d: DeletedSecret) {
  const latest = d.secret.versions.at(-1) as StoredVersion;
  return {
    recoveryId: `${base}/deletedsecrets/${d.secret.name}`,
    deletedDate: d.deletedDate,
    scheduledPurgeDate: d.scheduledPurgeDate,
    ...bundle(base, d.secret, latest, false),
  };
}

export function page<T>(
  url: URL,
  base: string,
  items: T[],
): { value: T[]; nextLink: string | null } {
  const max = url.searchParams.get('maxresults');
  const size = max === null ? MAX_PAGE : Number(max);
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE) {
    throw new KeyVaultError(
      400,
      'BadParameter',
      `The value of maxresults must be between 1 and ${MAX_PAGE}.`,
    );
  }
  const token = url.searchParams.get('$skiptoken');
  const start = token === null ? 0 : Number(Buffer.from(token, 'base64url').toString('utf8'));
  if (!Number.isInteger(start) || start < 0) {
    throw new KeyVaultError(400, 'BadParameter', 'The $skiptoken is invalid.');
  }
  const value = items.slice(start, start + size);
  if (start + size >= items.length) return { value, nextLink: null };
  const next = new URL(`${base}${url.pathname}`);
  next.searchParams.set('api-version', url.searchParams.get('api-version') ?? '');
  next.searchParams.set('$skiptoken', Buffer.from(String(start + size)).toString('base64url'));
  next.searchParams.set('maxresults', String(size));
  return { value, nextLink: next.toString() };
}

/** The secrets a double holds, live and soft-deleted, keyed by lower-cased name. */
export class KeyVaultSecrets {
  readonly secrets = new Map<string, StoredSecret>();
  readonly deleted = new Map<string, DeletedSecret>();

  storeVersion(name: string, value: string, opts: FakeSecretOptions = {}): string {
    checkName(name);
    const key = name.toLowerCase();
    if (this.deleted.has(key)) {
      throw new KeyVaultError(
        409,
        'Conflict',
        `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
      );
    }
    if (Buffer.byteLength(value, 'utf8') > KEY_VAULT_MAX_VALUE_BYTES) {
      throw new KeyVaultError(400, 'BadParameter', 'The secret value exceeds the 25 KB limit.');
    }
    const now = nowSeconds();
    const version: StoredVersion = {
      id: newVersionId(),
      value,
      contentType: opts.contentType,
      tags: opts.tags,
      enabled: opts.enabled ?? true,
      nbf: undefined,
      exp: undefined,
      created: now,
      updated: now,
    };
    const existing = this.secrets.get(key);
    if (existing) existing.versions.push(version);
    else this.secrets.set(key, { name, versions: [version] });
    return version.id;
  }

  find(name: string): StoredSecret {
    checkName(name);
    const s = this.secrets.get(name.toLowerCase());
    if (s === undefined) {
      throw new KeyVaultError(
        404,
        'SecretNotFound',
        `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
      );
    }
    return s;
  }

  findVersion(name: string, version: string): { s: StoredSecret; v: StoredVersion } {
    const s = this.find(name);
    const v =
      version === ''
        ? s.versions.at(-1)
        : s.versions.find((x) => x.id.toLowerCase() === version.toLowerCase());
    if (v === undefined) {
      throw new KeyVaultError(
        404,
        'SecretNotFound',
        `A secret with (name/id) ${name}/${version} was not found in this key vault.`,
      );
    }
    return { s, v };
  }

  findDeleted(name: string): DeletedSecret {
    checkName(name);
    const d = this.deleted.get(name.toLowerCase());
    if (d === undefined) {
      throw new KeyVaultError(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
    }
    return d;
  }

  async route(req: IncomingMessage, url: URL, base: string): Promise<[number, unknown]> {
    const method = req.method ?? 'GET';
    // Segments stay raw until split, so that an encoded `/` in a name stays in the name.
    const parts = url.pathname.split('/').slice(1).map(decodeSegment);
    const [collection, name, third, fourth] = parts;
    const extra = parts.length > 4;
    if (collection === 'secrets' && !extra) {
      if (name === undefined || name === '') {
        if (method === 'GET' && parts.length <= 2) {
          const items = [...this.secrets.values()].map((s) => {
            const latest = s.versions.at(-1) as StoredVersion;
            const { id: _id, ...rest } = bundle(base, s, latest, false);
            return { ...rest, id: `${base}/secrets/${s.name}` };
          });
          return [200, page(url, base, items)];
        }
      } else if (third === undefined && method === 'PUT') {
        const body = await readJsonBody(req);
        if (!isRecord(body) || typeof body.value !== 'string') {
          throw new KeyVaultError(400, 'BadParameter', 'Property value is required.');
        }
        const attrs = isRecord(body.attributes) ? body.attributes : {};
        if (attrs.enabled !== undefined && typeof attrs.enabled !== 'boolean') {
          throw new KeyVaultError(400, 'BadParameter', 'Property enabled must be a boolean.');
        }
        const contentType = body.contentType;
        if (contentType !== undefined && contentType !== null && typeof contentType !== 'string') {
          throw new KeyVaultError(400, 'BadParameter', 'Property contentType must be a string.');
        }
        // Everything is checked before anything is stored.
        const tags = stringRecord(body.tags, 'tags');
        const nbf = optionalSeconds(attrs.nbf, 'nbf');
        const exp = optionalSeconds(attrs.exp, 'exp');
        const id = this.storeVersion(name, body.value, {
          ...(typeof contentType === 'string' ? { contentType } : {}),
          ...(tags === undefined ? {} : { tags }),
          ...(typeof attrs.enabled === 'boolean' ? { enabled: attrs.enabled } : {}),
        });
        const { s, v } = this.findVersion(name, id);
        v.nbf = nbf;
        v.exp = exp;
        return [200, bundle(base, s, v, true)];
      } else if (third === undefined && method === 'DELETE') {
        const s = this.find(name);
        this.secrets.delete(name.toLowerCase());
        const now = nowSeconds();
        const d = {
          secret: s,
          deletedDate: now,
          scheduledPurgeDate: now + RECOVERABLE_DAYS * 86_400,
        };
        this.deleted.set(name.toLowerCase(), d);
        return [200, deletedBundle(base, d)];
      } else if (third === 'versions' && fourth === undefined && method === 'GET') {
        const s = this.find(name);
        const items = s.versions.map((v) => bundle(base, s, v, false));
        return [200, page(url, base, items)];
      } else if (fourth === undefined && (method === 'GET' || method === 'PATCH')) {
        const { s, v } = this.findVersion(name, third ?? '');
        if (method === 'GET') {
          if (!v.enabled) {
            throw new KeyVaultError(
              403,
              'Forbidden',
              'Operation get is not allowed on a disabled secret.',
              {},
              'SecretDisabled',
            );
          }
          return [200, bundle(base, s, v, true)];
        }
        const body = await readJsonBody(req);
        const patch = isRecord(body) ? body : {};
        const attrs = isRecord(patch.attributes) ? patch.attributes : {};
        if (typeof attrs.enabled === 'boolean') v.enabled = attrs.enabled;
        if (attrs.nbf !== undefined) v.nbf = optionalSeconds(attrs.nbf, 'nbf');
        if (attrs.exp !== undefined) v.exp = optionalSeconds(attrs.exp, 'exp');
        if (typeof patch.contentType === 'string') v.contentType = patch.contentType;
        const tags = stringRecord(patch.tags, 'tags');
        if (tags !== undefined) v.tags = tags;
        v.updated = nowSeconds();
        return [200, bundle(base, s, v, false)];
      }
    }
    if (collection === 'deletedsecrets' && !extra && fourth === undefined) {
      if ((name === undefined || name === '') && method === 'GET') {
        return [
          200,
          page(
            url,
            base,
            [...this.deleted.values()].map((d) => deletedBundle(base, d)),
          ),
        ];
      }
      if (name !== undefined && name !== '') {
        if (third === undefined && method === 'GET')
          return [200, deletedBundle(base, this.findDeleted(name))];
        if (third === undefined && method === 'DELETE') {
          this.findDeleted(name);
          this.deleted.delete(name.toLowerCase());
          return [204, undefined];
        }
        if (third === 'recover' && method === 'POST') {
          const d = this.findDeleted(name);
          this.deleted.delete(name.toLowerCase());
          this.secrets.set(name.toLowerCase(), d.secret);
          const latest = d.secret.versions.at(-1) as StoredVersion;
          return [200, bundle(base, d.secret, latest, false)];
        }
      }
    }
    throw new KeyVaultError(
      405,
      'MethodNotAllowed',
      `The requested method ${method} is not allowed for this resource.`,
    );
  }

  /** Forgets every secret, live or deleted. */
  reset(): void {
    this.secrets.clear();
    this.deleted.clear();
  }
}
