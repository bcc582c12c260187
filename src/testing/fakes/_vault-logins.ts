/**
 * @module testing/fakes/_vault-logins
 * The Vault double's logins, one function per auth method: AppRole, userpass/LDAP/RADIUS,
 * aws (IAM, replayed to STS), azure (Entra ID tokens), gcp (iam JWTs), Kubernetes, JWT/OIDC.
 */

import { verify as verifySignature } from 'node:crypto';
import { sigV4Signature } from '../../backends/_sigv4.ts';
import { isRecord } from '../../util/json.ts';
import { FakeHttpError } from './_serve-fake.ts';
import {
  type AppRole,
  type AuthEntry,
  type AuthMount,
  type Ctx,
  envelope,
  noRoute,
  parseDuration,
  parseList,
  type VaultState,
} from './_vault-state.ts';
import { authBlock, issueToken } from './_vault-tokens.ts';

// ----- logins ------------------------------------------------------------------------------

export function decodeJwt(jwt: unknown): Record<string, unknown> {
  const parts = typeof jwt === 'string' ? jwt.split('.') : [];
  if (parts.length !== 3)
    throw new FakeHttpError(400, 'error validating token: invalid JWT format');
  try {
    const claims: unknown = JSON.parse(
      Buffer.from(parts[1] as string, 'base64url').toString('utf8'),
    );
    if (isRecord(claims)) return claims;
  } catch {
    // fall through
  }
  throw new FakeHttpError(400, 'error validating token: malformed claims');
}

/**
 * Vault's `gcp` auth method, `iam` roles: the login JWT is signed by the service account (with
 * IAM's `signJwt` or its own key), names it in `sub`, has `aud` `vault/<role>` and expires
 * within `max_jwt_exp` (15 minutes). Vault checks the signature with the account's public keys
 * from Google; the fake with those it was given. Returns the account's email.
 */
export function gcpIamCaller(
  s: VaultState,
  jwt: unknown,
  roleName: string,
  raw: Record<string, unknown>,
): string {
  const parts = typeof jwt === 'string' ? jwt.split('.') : [];
  if (parts.length !== 3) throw new FakeHttpError(400, 'unable to parse signed JWT');
  const [head, payload, signature] = parts as [string, string, string];
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8'));
  } catch {
    throw new FakeHttpError(400, 'unable to parse signed JWT');
  }
  if (!isRecord(header) || header.alg !== 'RS256') {
    throw new FakeHttpError(400, 'unable to parse signed JWT: expected an RS256 signature');
  }
  const claims = decodeJwt(jwt);
  const sub = typeof claims.sub === 'string' ? claims.sub : '';
  const publicKey = s.gcpServiceAccountKeys[sub];
  if (publicKey === undefined) {
    throw new FakeHttpError(400, `service account ${sub || '<no sub>'} not found`);
  }
  const valid = verifySignature(
    'RSA-SHA256',
    Buffer.from(`${head}.${payload}`),
    publicKey,
    Buffer.from(signature, 'base64url'),
  );
  if (!valid)
    throw new FakeHttpError(400, 'unable to verify signed JWT: crypto/rsa: verification error');
  if (claims.aud !== `vault/${roleName}`) {
    throw new FakeHttpError(400, `invalid audience (aud) claim: expected vault/${roleName}`);
  }
  const t = s.now() / 1000;
  if (typeof claims.exp !== 'number') throw new FakeHttpError(400, 'JWT has no exp claim');
  if (claims.exp < t) throw new FakeHttpError(400, 'JWT is expired');
  const maxExp = parseDuration(raw.max_jwt_exp, 'max_jwt_exp') ?? 900;
  if (claims.exp > t + maxExp + 60) {
    throw new FakeHttpError(400, 'JWT expires too far in the future (more than max_jwt_exp)');
  }
  const bound = parseList(raw.bound_service_accounts);
  if (!bound.includes('*') && !bound.includes(sub)) {
    throw new FakeHttpError(403, `service account ${sub} is not authorized for role "${roleName}"`);
  }
  return sub;
}

/**
 * Vault's `azure` auth method: the login `jwt` is an Entra ID access token (a managed
 * identity's or a service principal's) for the configured `resource`, from the configured
 * tenant, signed by a key of the tenant's JWKS (here: one given in `azureTokenKeys`).
 */
export function azureTokenClaims(
  s: VaultState,
  auth: AuthMount,
  jwt: unknown,
): Record<string, unknown> {
  const parts = typeof jwt === 'string' ? jwt.split('.') : [];
  if (parts.length !== 3) throw new FakeHttpError(400, 'unable to parse the token: malformed JWT');
  const [head, payload, signature] = parts as [string, string, string];
  const signed = Buffer.from(`${head}.${payload}`);
  const sig = Buffer.from(signature, 'base64url');
  if (!s.azureTokenKeys.some((key) => verifySignature('RSA-SHA256', signed, key, sig))) {
    throw new FakeHttpError(400, 'unable to verify the token: failed to verify id token signature');
  }
  const claims = decodeJwt(jwt);
  checkTimes(s, claims, 400);
  const strip = (v: unknown) => String(v ?? '').replace(/\/+$/, '');
  const resource = strip(auth.config.resource);
  if (resource === '' || strip(claims.aud) !== resource) {
    throw new FakeHttpError(
      400,
      'unable to verify the token: audience claim does not match the configured resource',
    );
  }
  const tenant = String(auth.config.tenant_id ?? '');
  if (tenant !== '' && claims.tid !== tenant) {
    throw new FakeHttpError(
      400,
      'unable to verify the token: the token was issued by another tenant',
    );
  }
  return claims;
}

export function checkTimes(s: VaultState, claims: Record<string, unknown>, status: number): void {
  const t = s.now() / 1000;
  if (typeof claims.exp === 'number' && claims.exp < t) {
    throw new FakeHttpError(status, 'error validating claims: token is expired (exp)');
  }
  if (typeof claims.nbf === 'number' && claims.nbf > t) {
    throw new FakeHttpError(status, 'error validating claims: token not valid yet (nbf)');
  }
}

/**
 * Vault's `aws` auth, IAM method: the login carries a signed `sts:GetCallerIdentity` request
 * (method, URL, headers and body, base64), which Vault checks for shape and replays to STS
 * (`sts_endpoint` of `auth/aws/config/client`); STS's answer names the caller.
 */
export async function awsIamCaller(
  s: VaultState,
  auth: AuthMount,
  body: Record<string, unknown>,
): Promise<{
  arn: string;
  canonicalArn: string;
  account: string;
  userId: string;
  friendlyName: string;
}> {
  const b64 = (field: string) => {
    const value = body[field];
    if (typeof value !== 'string' || value === '') {
      throw new FakeHttpError(400, `missing ${field}`);
    }
    return Buffer.from(value, 'base64').toString('utf8');
  };
  const method = String(body.iam_http_request_method ?? '');
  if (method !== 'POST') {
    throw new FakeHttpError(
      400,
      "invalid iam_http_request_method; currently only 'POST' is supported",
    );
  }
  const url = b64('iam_request_url');
  const requestBody = b64('iam_request_body');
  let parsedHeaders: unknown;
  try {
    parsedHeaders = JSON.parse(b64('iam_request_headers'));
  } catch {
    throw new FakeHttpError(400, 'error parsing iam_request_headers');
  }
  if (!isRecord(parsedHeaders)) throw new FakeHttpError(400, 'error parsing iam_request_headers');
  // The Vault CLI and hvac send each header as a list of values.
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsedHeaders)) {
    headers[name] = Array.isArray(value) ? value.map(String).join(',') : String(value);
  }
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const form = new URLSearchParams(requestBody);
  if (form.get('Action') !== 'GetCallerIdentity' || !form.get('Version')) {
    throw new FakeHttpError(400, 'error parsing iam_request_body: invalid request body');
  }
  const authorization =
    /^AWS4-HMAC-SHA256 Credential=([^/\s]+)\/(\d{8})\/([^/\s]+)\/sts\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
      lower.get('authorization') ?? '',
    );
  if (!authorization || !lower.get('x-amz-date')) {
    throw new FakeHttpError(
      400,
      'error validating the request: missing or malformed SigV4 signature',
    );
  }
  const [, accessKeyId, day, region, signedList, signature] = authorization as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const signed = signedList.split(';');
  if (!signed.includes('host') || !signed.includes('x-amz-date')) {
    throw new FakeHttpError(
      400,
      'error validating the request: host and x-amz-date must be signed',
    );
  }
  if (!lower.get('x-amz-date')?.startsWith(day)) {
    throw new FakeHttpError(400, 'error validating the request: credential scope date mismatch');
  }
  const serverId = auth.config.iam_server_id_header_value;
  if (typeof serverId === 'string' && serverId !== '') {
    if (
      lower.get('x-vault-aws-iam-server-id') !== serverId ||
      !signed.includes('x-vault-aws-iam-server-id')
    ) {
      throw new FakeHttpError(
        400,
        'error validating X-Vault-AWS-IAM-Server-ID header: expected header value does not match or is not signed',
      );
    }
  }
  const knownSecret = s.awsCredentials[accessKeyId];
  if (
    knownSecret !== undefined &&
    sigV4Signature(
      { method, url, headers, body: requestBody },
      signed,
      region,
      'sts',
      knownSecret,
    ) !== signature
  ) {
    throw new FakeHttpError(
      400,
      'error making upstream request: received error code 403 from STS: SignatureDoesNotMatch',
    );
  }
  const endpoint =
    typeof auth.config.sts_endpoint === 'string' && auth.config.sts_endpoint !== ''
      ? auth.config.sts_endpoint
      : url;
  let answer: Response;
  try {
    const forwarded = Object.fromEntries(
      Object.entries(headers).filter(
        ([k]) => !['host', 'content-length'].includes(k.toLowerCase()),
      ),
    );
    answer = await fetch(endpoint, {
      method: 'POST',
      headers: forwarded,
      body: requestBody,
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code ?? 'network error';
    throw new FakeHttpError(400, `error making upstream request: ${code}`);
  }
  const xml = await answer.text();
  if (!answer.ok) {
    const code = /<Code>([^<]+)<\/Code>/.exec(xml)?.[1] ?? 'unknown';
    throw new FakeHttpError(
      400,
      `error making upstream request: received error code ${answer.status} from STS: ${code}`,
    );
  }
  const field = (name: string) => new RegExp(`<${name}>([^<]+)</${name}>`).exec(xml)?.[1] ?? '';
  const arn = field('Arn');
  if (arn === '') throw new FakeHttpError(400, 'error parsing STS response');
  // arn:aws:sts::<account>:assumed-role/<role>/<session> → arn:aws:iam::<account>:role/<role>
  const parts = /^arn:([^:]+):(?:iam|sts)::(\d+):([^/]+)\/(.+)$/.exec(arn);
  let canonicalArn = arn;
  let friendlyName = arn.split('/').at(-1) ?? '';
  if (parts) {
    const [, partition, account, kind, rest] = parts as unknown as [
      string,
      string,
      string,
      string,
      string,
    ];
    const name =
      kind === 'assumed-role' ? (rest.split('/')[0] ?? rest) : (rest.split('/').at(-1) ?? rest);
    const iamKind = kind === 'assumed-role' ? 'role' : kind;
    canonicalArn = `arn:${partition}:iam::${account}:${iamKind}/${name}`;
    friendlyName = name;
  }
  return { arn, canonicalArn, account: field('Account'), userId: field('UserId'), friendlyName };
}

export function boundMatch(allowed: string[], value: string | undefined): boolean {
  return allowed.includes('*') || (value !== undefined && allowed.includes(value));
}

/** A token for a login that passed: the entry's policies (and any extra), with Vault's metadata. */
function issueLogin(
  { ctx, auth, rest }: { ctx: Ctx; auth: AuthMount; rest: string },
  entry: AuthEntry,
  meta: Record<string, string>,
  display: string,
  extraPolicies: string[] = [],
): Record<string, unknown> {
  const params = { ...entry.params, policies: [...entry.params.policies, ...extraPolicies] };
  const token = issueToken(
    ctx.state,
    ctx.ns,
    params,
    `auth/${auth.path}${rest}`,
    meta,
    display,
    true,
  );
  return envelope(null, { auth: authBlock(ctx.state, token) });
}

type Login = (
  ctx: Ctx,
  auth: AuthMount,
  rest: string,
) => Promise<Record<string, unknown>> | Record<string, unknown>;

/** AppRole: `role_id` and (when the role binds one) a `secret_id`. */
function loginAppRole(ctx: Ctx, auth: AuthMount, rest: string): Record<string, unknown> {
  const { body } = ctx;
  if (rest !== 'login') throw noRoute(`auth/${auth.path}${rest}`);
  const roleId = String(body.role_id ?? '');
  if (roleId === '') throw new FakeHttpError(400, 'missing role_id');
  const role = [...auth.roles.values()].find((r) => (r as AppRole).roleId === roleId) as
    | AppRole
    | undefined;
  if (!role) throw new FakeHttpError(400, 'invalid role or secret ID');
  if (role.bindSecretId) {
    const secretId = String(body.secret_id ?? '');
    if (secretId === '') throw new FakeHttpError(400, 'missing secret_id');
    const entry = role.secretIds.get(secretId);
    if (!entry || (entry.expires !== undefined && ctx.state.now() >= entry.expires)) {
      throw new FakeHttpError(400, 'invalid role or secret ID');
    }
    if (entry.usesLeft > 0) {
      entry.usesLeft -= 1;
      if (entry.usesLeft === 0) role.secretIds.delete(secretId);
    }
  }
  return issueLogin({ ctx, auth, rest }, role, { role_name: role.name }, `approle`);
}

/** userpass, LDAP and RADIUS: a user name (in the path, or RADIUS's body) and the password set on the double. */
function loginPassword(ctx: Ctx, auth: AuthMount, rest: string): Record<string, unknown> {
  const { body } = ctx;
  // RADIUS also takes the user name in the body (`POST auth/radius/login`).
  const username = rest.startsWith('login/')
    ? rest.slice('login/'.length).toLowerCase()
    : auth.type === 'radius' && rest === 'login'
      ? String(body.username ?? '').toLowerCase()
      : '';
  const user = auth.users.get(username);
  const password = String(body.password ?? '');
  if (!user || user.password === undefined || user.password !== password || password === '') {
    throw new FakeHttpError(
      400,
      auth.type === 'ldap'
        ? 'ldap operation failed: failed to bind as user'
        : 'invalid username or password',
    );
  }
  const groupPolicies = user.groups.flatMap(
    (g) => auth.groups.get(g.toLowerCase())?.params.policies ?? [],
  );
  return issueLogin(
    { ctx, auth, rest },
    user,
    { username },
    `${auth.type}-${username}`,
    groupPolicies,
  );
}

/** aws, IAM method: the signed `sts:GetCallerIdentity` replayed to STS, the principal checked against the role. */
async function loginAws(ctx: Ctx, auth: AuthMount, rest: string): Promise<Record<string, unknown>> {
  const { body } = ctx;
  if (rest !== 'login') throw noRoute(`auth/${auth.path}${rest}`);
  const caller = await awsIamCaller(ctx.state, auth, body);
  // Without `role`, Vault takes the IAM principal's friendly name.
  const roleName = String(body.role ?? '') || caller.friendlyName;
  const role = auth.roles.get(roleName.toLowerCase()) ?? auth.roles.get(roleName);
  if (!role) throw new FakeHttpError(400, `entry for role ${roleName} not found`);
  const authType = String(role.raw.auth_type ?? 'iam');
  if (authType !== 'iam') {
    throw new FakeHttpError(400, `auth method iam not allowed for role ${roleName}`);
  }
  const bound = parseList(role.raw.bound_iam_principal_arn);
  const matches = bound.some((want) =>
    want.endsWith('*')
      ? caller.canonicalArn.startsWith(want.slice(0, -1))
      : want === caller.canonicalArn,
  );
  if (!matches) {
    throw new FakeHttpError(
      403,
      `IAM Principal "${caller.arn}" does not belong to the role "${roleName}"`,
    );
  }
  return issueLogin(
    { ctx, auth, rest },
    role,
    {
      role: roleName,
      account_id: caller.account,
      auth_type: 'iam',
      canonical_arn: caller.canonicalArn,
      client_arn: caller.arn,
      client_user_id: caller.userId,
    },
    `aws-${caller.canonicalArn}`,
  );
}

/** azure: an Entra ID access token, the service principal and subscription checked against the role. */
function loginAzure(ctx: Ctx, auth: AuthMount, rest: string): Record<string, unknown> {
  const { body } = ctx;
  if (rest !== 'login') throw noRoute(`auth/${auth.path}${rest}`);
  const roleName = String(body.role ?? '');
  const role = auth.roles.get(roleName.toLowerCase()) ?? auth.roles.get(roleName);
  if (!role) throw new FakeHttpError(400, `invalid role name "${roleName}"`);
  const claims = azureTokenClaims(ctx.state, auth, body.jwt);
  const objectId = String(claims.oid ?? '');
  const principals = parseList(role.raw.bound_service_principal_ids);
  if (principals.length > 0 && !principals.includes('*') && !principals.includes(objectId)) {
    throw new FakeHttpError(403, 'service principal not authorized');
  }
  const subscriptions = parseList(role.raw.bound_subscription_ids);
  const subscription = String(body.subscription_id ?? '');
  if (subscriptions.length > 0 && !subscriptions.includes(subscription)) {
    throw new FakeHttpError(403, 'subscription not authorized');
  }
  return issueLogin(
    { ctx, auth, rest },
    role,
    {
      role: roleName,
      object_id: objectId,
      subscription_id: subscription,
      resource_group_name: String(body.resource_group_name ?? ''),
      vm_name: String(body.vm_name ?? ''),
    },
    `azure-${objectId}`,
  );
}

/** gcp, iam roles: a JWT signed by the service account. */
function loginGcp(ctx: Ctx, auth: AuthMount, rest: string): Record<string, unknown> {
  const { body } = ctx;
  if (rest !== 'login') throw noRoute(`auth/${auth.path}${rest}`);
  const roleName = String(body.role ?? '');
  const role = auth.roles.get(roleName.toLowerCase()) ?? auth.roles.get(roleName);
  if (!role) throw new FakeHttpError(400, `role "${roleName}" not found`);
  if (String(role.raw.type ?? '') !== 'iam') {
    throw new FakeHttpError(400, `role "${roleName}" is not of type iam`);
  }
  const account = gcpIamCaller(ctx.state, body.jwt, roleName, role.raw);
  return issueLogin(
    { ctx, auth, rest },
    role,
    {
      role: roleName,
      service_account_email: account,
      service_account_id: account,
      project_id: account.split('@')[1]?.split('.')[0] ?? '',
    },
    `gcp-${account}`,
  );
}

/** kubernetes: a service-account JWT (not verified), its name and namespace checked against the role. */
function loginKubernetes(ctx: Ctx, auth: AuthMount, rest: string): Record<string, unknown> {
  const { body } = ctx;
  const role = auth.roles.get(String(body.role ?? ''));
  if (!role) throw new FakeHttpError(400, `invalid role name "${String(body.role ?? '')}"`);
  const claims = decodeJwt(body.jwt);
  checkTimes(ctx.state, claims, 403);
  const k8s = isRecord(claims['kubernetes.io']) ? claims['kubernetes.io'] : {};
  const sa = isRecord(k8s.serviceaccount) ? k8s.serviceaccount : {};
  const name =
    (claims['kubernetes.io/serviceaccount/service-account.name'] as string | undefined) ??
    (typeof sa.name === 'string' ? sa.name : undefined);
  const namespace =
    (claims['kubernetes.io/serviceaccount/namespace'] as string | undefined) ??
    (typeof k8s.namespace === 'string' ? k8s.namespace : undefined);
  if (!boundMatch(parseList(role.raw.bound_service_account_names), name)) {
    throw new FakeHttpError(403, 'service account name not authorized');
  }
  if (!boundMatch(parseList(role.raw.bound_service_account_namespaces), namespace)) {
    throw new FakeHttpError(403, 'namespace not authorized');
  }
  return issueLogin(
    { ctx, auth, rest },
    role,
    {
      role: role.name,
      service_account_name: name ?? '',
      service_account_namespace: namespace ?? '',
    },
    `kubernetes-${namespace ?? ''}-${name ?? ''}`,
  );
}

/** jwt and oidc: a JWT (not verified) checked against the role's audiences, subject and bound claims. */
function loginJwt(ctx: Ctx, auth: AuthMount, rest: string): Record<string, unknown> {
  const { body } = ctx;
  // jwt / oidc
  const role = auth.roles.get(String(body.role ?? auth.config.default_role ?? ''));
  if (!role) throw new FakeHttpError(400, `role "${String(body.role ?? '')}" could not be found`);
  const claims = decodeJwt(body.jwt);
  checkTimes(ctx.state, claims, 400);
  const audiences = parseList(role.raw.bound_audiences);
  const aud = parseList(claims.aud);
  if (audiences.length > 0 && !aud.some((a) => audiences.includes(a))) {
    throw new FakeHttpError(400, 'error validating claims: invalid audience (aud) claim');
  }
  if (audiences.length === 0 && aud.length > 0) {
    throw new FakeHttpError(400, 'audience claim found in JWT but no audiences bound to the role');
  }
  const subject = role.raw.bound_subject;
  if (typeof subject === 'string' && subject !== '' && claims.sub !== subject) {
    throw new FakeHttpError(400, 'sub claim does not match bound subject');
  }
  const boundClaims = isRecord(role.raw.bound_claims) ? role.raw.bound_claims : {};
  for (const [claim, want] of Object.entries(boundClaims)) {
    const wanted = Array.isArray(want) ? want.map(String) : [String(want)];
    if (!wanted.includes(String(claims[claim]))) {
      throw new FakeHttpError(400, 'error validating claims: claim is missing or does not match');
    }
  }
  const user = claims[String(role.raw.user_claim)];
  if (user === undefined)
    throw new FakeHttpError(400, 'error validating claims: user claim not found');
  return issueLogin({ ctx, auth, rest }, role, { role: role.name }, `${auth.type}-${String(user)}`);
}

const LOGINS: Readonly<Record<string, Login>> = {
  approle: loginAppRole,
  userpass: loginPassword,
  ldap: loginPassword,
  radius: loginPassword,
  aws: loginAws,
  azure: loginAzure,
  gcp: loginGcp,
  kubernetes: loginKubernetes,
  jwt: loginJwt,
  oidc: loginJwt,
};

/** `POST auth/<mount>/login[/<user>]`: the mount's auth method checks the credentials. */
export async function login(
  ctx: Ctx,
  auth: AuthMount,
  rest: string,
): Promise<Record<string, unknown>> {
  return (LOGINS[auth.type] ?? loginJwt)(ctx, auth, rest);
}
