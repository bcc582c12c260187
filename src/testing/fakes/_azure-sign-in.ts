/**
 * @module testing/fakes/_azure-sign-in
 * The Azure Key Vault double's Entra ID: the tenant's OpenID configuration and JWKS, and the
 * token endpoint's client-credentials flow (checked against the configured service principals),
 * issuing RS256 access tokens the double (and the Vault double's azure auth method) can verify.
 */
import { createHash, createSign, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson } from './_serve-fake.ts';

/** One sign-in at the fake's token endpoint (never the client secret or the token). */
export interface FakeSignInRecord {
  readonly tenant: string;
  readonly clientId: string;
  readonly scope: string;
  /** `issued`, or the OAuth error the fake answered (`invalid_client`, …). */
  readonly outcome: string;
}

/** A throw-away Entra ID tenant: its signing key, its sign-ins, the tokens it issued. */
export class EntraIdDouble {
  readonly signIns: FakeSignInRecord[] = [];
  readonly issuedTokens = new Set<string>();
  /** The public key (PEM) the tenant signs access tokens with. */
  readonly signingPublicKey: string;
  private readonly signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  private readonly signingKid = randomBytes(8).toString('hex');

  readonly tenantId: string;
  /** Client id → secret; `undefined` accepts any client with a non-empty secret. */
  private readonly servicePrincipals: Readonly<Record<string, string>> | undefined;

  constructor(tenantId: string, servicePrincipals: Readonly<Record<string, string>> | undefined) {
    this.tenantId = tenantId;
    this.servicePrincipals = servicePrincipals;
    this.signingPublicKey = this.signingKey.publicKey.export({
      type: 'spki',
      format: 'pem',
    }) as string;
  }

  signJwt(claims: Record<string, unknown>): string {
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const input = `${part({ typ: 'JWT', alg: 'RS256', kid: this.signingKid })}.${part(claims)}`;
    const signature = createSign('RSA-SHA256')
      .update(input)
      .sign(this.signingKey.privateKey, 'base64url');
    return `${input}.${signature}`;
  }

  /** A stable object id for a service principal (Entra ID's `oid`), derived from its client id. */
  principalObjectId(clientId: string): string {
    const hex = createHash('sha256').update(`${this.tenantId}/${clientId}`).digest('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  }

  /** Entra ID's error body (`AADSTS…` codes, as MSAL reads them). */
  oauthError(res: ServerResponse, status: number, error: string, code: number, text: string) {
    sendJson(res, status, {
      error,
      error_description: `AADSTS${code}: ${text}`,
      error_codes: [code],
      timestamp: new Date()
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z'),
      trace_id: randomUUID(),
      correlation_id: randomUUID(),
    });
  }

  /**
   * Entra ID's sign-in, as much of it as the client-credentials flow needs: the tenant's OpenID
   * configuration (MSAL reads it first) and the token endpoint. `true` when it answered.
   */
  async signIn(req: IncomingMessage, res: ServerResponse, url: URL, base: string) {
    if (url.pathname === `/${this.tenantId}/discovery/v2.0/keys`) {
      req.resume();
      sendJson(res, 200, {
        keys: [
          {
            ...this.signingKey.publicKey.export({ format: 'jwk' }),
            kid: this.signingKid,
            use: 'sig',
            alg: 'RS256',
          },
        ],
      });
      return true;
    }
    const metadata = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(url.pathname);
    const token = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname);
    const tenant = metadata?.[1] ?? token?.[1];
    if (tenant === undefined) return false;
    if (tenant !== this.tenantId) {
      req.resume();
      this.oauthError(res, 400, 'invalid_request', 90002, `Tenant '${tenant}' not found.`);
      return true;
    }
    if (metadata) {
      req.resume();
      const root = `${base}/${this.tenantId}`;
      sendJson(res, 200, {
        token_endpoint: `${root}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt'],
        jwks_uri: `${base}/${this.tenantId}/discovery/v2.0/keys`,
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        issuer: `${root}/v2.0`,
        authorization_endpoint: `${root}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${root}/oauth2/v2.0/logout`,
        tenant_region_scope: null,
        cloud_instance_name: 'microsoftonline.com',
      });
      return true;
    }
    if (req.method !== 'POST') {
      req.resume();
      this.oauthError(
        res,
        405,
        'invalid_request',
        900561,
        'The endpoint only accepts POST requests.',
      );
      return true;
    }
    const form = new URLSearchParams((await readBody(req, 64 * 1024)).toString('utf8'));
    const clientId = form.get('client_id') ?? '';
    const scope = form.get('scope') ?? '';
    const record = (outcome: string) => this.signIns.push({ tenant, clientId, scope, outcome });
    if (form.get('grant_type') !== 'client_credentials') {
      record('unsupported_grant_type');
      this.oauthError(
        res,
        400,
        'unsupported_grant_type',
        70003,
        'The app requested an unsupported grant type.',
      );
      return true;
    }
    const secret = form.get('client_secret') ?? '';
    if (secret === '') {
      record('invalid_client');
      this.oauthError(
        res,
        401,
        'invalid_client',
        7000216,
        "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
      );
      return true;
    }
    if (this.servicePrincipals !== undefined && this.servicePrincipals[clientId] === undefined) {
      record('unauthorized_client');
      this.oauthError(
        res,
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${this.tenantId}'.`,
      );
      return true;
    }
    if (this.servicePrincipals !== undefined && this.servicePrincipals[clientId] !== secret) {
      record('invalid_client');
      this.oauthError(
        res,
        401,
        'invalid_client',
        7000215,
        'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.',
      );
      return true;
    }
    if (!scope.split(' ').some((s) => s.endsWith('/.default'))) {
      record('invalid_scope');
      this.oauthError(
        res,
        400,
        'invalid_scope',
        1002012,
        'The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.',
      );
      return true;
    }
    // An Entra ID access token: a JWT signed with the fake's key (its JWKS is published), for
    // the scope's resource, naming the tenant and the service principal.
    const issuedAt = Math.floor(Date.now() / 1000);
    const resource = (scope.split(' ').find((x) => x.endsWith('/.default')) ?? '').slice(
      0,
      -'/.default'.length,
    );
    const accessToken = this.signJwt({
      aud: resource,
      iss: `https://sts.windows.net/${this.tenantId}/`,
      iat: issuedAt,
      nbf: issuedAt,
      exp: issuedAt + 3599,
      tid: this.tenantId,
      appid: clientId,
      oid: this.principalObjectId(clientId),
      sub: this.principalObjectId(clientId),
      idtyp: 'app',
      uti: randomBytes(12).toString('base64url'),
      ver: '1.0',
    });
    this.issuedTokens.add(accessToken);
    record('issued');
    sendJson(res, 200, {
      token_type: 'Bearer',
      expires_in: 3599,
      ext_expires_in: 3599,
      access_token: accessToken,
    });
    return true;
  }

  /** Forgets the sign-ins and the tokens issued. */
  reset(): void {
    this.signIns.length = 0;
    this.issuedTokens.clear();
  }
}
