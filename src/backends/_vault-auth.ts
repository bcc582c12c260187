/**
 * @module backends/_vault-auth
 * The Vault backend's logins, one function per auth method Airflow's `VaultBackend` offers:
 * the path under the auth mount and the body each method posts (AppRole, userpass/LDAP/RADIUS,
 * Kubernetes, JWT, GitHub, aws IAM with a signed `sts:GetCallerIdentity`, gcp with a signed JWT,
 * azure with an Entra ID token).
 */

import { readFile } from 'node:fs/promises';
import { AirlockError, ConfigError } from '../errors.ts';
import { isRecord } from '../util/json.ts';
import { loadSdk } from './_sdk.ts';
import { isLoopbackEndpoint } from './_test-credentials.ts';
import { BACKEND_NAME, type LoginType, type VaultOptions } from './_vault-options.ts';

/** What a login is built from. */
export interface VaultLoginContext {
  readonly opts: VaultOptions;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now: () => number;
}

/** Reads a credential file a kwarg names (`token_path`, `jwt_token_path`, …), trimmed. */
export async function readCredentialFile(kwarg: string, path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new AirlockError(
      'AIRLOCK_ERR_BACKEND_AUTH',
      `${BACKEND_NAME}: cannot read ${kwarg} \`${path}\` (${code})`,
      { details: { backend: BACKEND_NAME, kwarg, errno: code } },
    );
  }
}

export async function loginRequest(
  ctx: VaultLoginContext,
): Promise<{ path: string; body: Record<string, unknown> }> {
  switch (ctx.opts.auth_type as LoginType) {
    case 'approle':
      return {
        path: 'login',
        body: {
          role_id: ctx.opts.role_id,
          ...(ctx.opts.secret_id ? { secret_id: ctx.opts.secret_id } : {}),
        },
      };
    case 'userpass':
    case 'ldap':
    case 'radius':
      return {
        path: `login/${encodeURIComponent(ctx.opts.username ?? '')}`,
        body: { password: ctx.opts.password },
      };
    case 'kubernetes':
      return {
        path: 'login',
        body: {
          role: ctx.opts.kubernetes_role,
          jwt: await readCredentialFile('kubernetes_jwt_path', ctx.opts.kubernetes_jwt_path),
        },
      };
    case 'jwt':
      return {
        path: 'login',
        body: {
          role: ctx.opts.jwt_role,
          jwt: ctx.opts.jwt_token
            ? ctx.opts.jwt_token.trim()
            : await readCredentialFile('jwt_token_path', ctx.opts.jwt_token_path ?? ''),
        },
      };
    case 'aws_iam':
      return { path: 'login', body: await awsIamLoginBody(ctx) };
    case 'gcp':
      return { path: 'login', body: { role: ctx.opts.role_id, jwt: await gcpLoginJwt(ctx) } };
    case 'azure':
      return { path: 'login', body: { role: ctx.opts.role_id, jwt: await azureAccessToken(ctx) } };
    case 'github':
      return {
        path: 'login',
        body: {
          token: ctx.opts.token_path
            ? await readCredentialFile('token_path', ctx.opts.token_path)
            : ctx.opts.token,
        },
      };
  }
}

/**
 * hvac's `auth.aws.iam_login`, as Airflow calls it: a `sts:GetCallerIdentity` request to the
 * global STS endpoint, SigV4-signed for `region` (default us-east-1) with `key_id`/`secret_id`,
 * else the credentials of an assumed role (`assume_role_kwargs`), else the AWS default chain;
 * Vault replays it to STS to learn who is logging in. `role_id` names the Vault role.
 */
async function awsIamLoginBody(ctx: VaultLoginContext): Promise<Record<string, unknown>> {
  const credentials = await awsIamCredentials(ctx);
  const body = 'Action=GetCallerIdentity&Version=2011-06-15';
  const request = {
    method: 'POST',
    url: 'https://sts.amazonaws.com/',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8',
      Host: 'sts.amazonaws.com',
      'Content-Length': String(Buffer.byteLength(body)),
    },
    body,
  };
  const { signSigV4 } = await import('./_sigv4.ts');
  // Airflow: `region`, else (for credentials from the AWS chain) the session's region; hvac's
  // default is us-east-1.
  const chainRegion =
    ctx.opts.key_id && ctx.opts.secret_id
      ? undefined
      : ctx.env.AWS_REGION || ctx.env.AWS_DEFAULT_REGION;
  const region = ctx.opts.region || chainRegion || 'us-east-1';
  const headers = signSigV4(request, credentials, region, 'sts', new Date(ctx.now()));
  const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
  // As the Vault CLI and hvac send them: each header a list of values.
  const listed = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]]));
  return {
    iam_http_request_method: request.method,
    iam_request_url: b64(request.url),
    iam_request_body: b64(body),
    iam_request_headers: b64(JSON.stringify(listed)),
    ...(ctx.opts.role_id ? { role: ctx.opts.role_id } : {}),
  };
}

/**
 * The JWT of Vault's `gcp` login (`iam` roles), as Airflow builds it: `sub` the service
 * account, `aud` `vault/<role_id>`, expiring in 15 minutes (Vault's limit), RS256-signed. Airflow
 * has IAM's `signJwt` sign it; airlock signs it with the same service account's key from
 * `gcp_key_path`/`gcp_keyfile_dict`, which Vault accepts alike and which needs no IAM call.
 */
async function gcpLoginJwt(ctx: VaultLoginContext): Promise<string> {
  let key: Record<string, unknown>;
  if (ctx.opts.gcp_keyfile_dict) {
    key = ctx.opts.gcp_keyfile_dict;
  } else {
    const text = await readCredentialFile('gcp_key_path', ctx.opts.gcp_key_path ?? '');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!isRecord(parsed)) {
      throw new ConfigError([
        `${BACKEND_NAME} kwargs.gcp_key_path: \`${ctx.opts.gcp_key_path}\` is not a JSON service-account key`,
      ]);
    }
    key = parsed;
  }
  const email = key.client_email;
  const privateKey = key.private_key;
  if (typeof email !== 'string' || typeof privateKey !== 'string') {
    throw new ConfigError([
      `${BACKEND_NAME} kwargs: the gcp key needs client_email and private_key (a service-account key)`,
    ]);
  }
  const issued = Math.floor(ctx.now() / 1000);
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const header = part({
    alg: 'RS256',
    typ: 'JWT',
    ...(typeof key.private_key_id === 'string' ? { kid: key.private_key_id } : {}),
  });
  const payload = part({
    iat: issued,
    exp: issued + 900,
    sub: email,
    aud: `vault/${ctx.opts.role_id}`,
  });
  const { createSign } = await import('node:crypto');
  let signature: string;
  try {
    signature = createSign('RSA-SHA256')
      .update(`${header}.${payload}`)
      .sign(privateKey, 'base64url');
  } catch {
    throw new ConfigError([
      `${BACKEND_NAME} kwargs: the private_key of the gcp key cannot sign (not an RSA key in PEM)`,
    ]);
  }
  return `${header}.${payload}.${signature}`;
}

/**
 * The `jwt` of Vault's `azure` login: an Entra ID access token for `azure_resource` (default
 * `https://management.azure.com/`, what Vault's azure auth is usually configured with), from
 * the service principal `key_id`/`secret_id` in `azure_tenant_id` (the kwargs Airflow hands to
 * the method's configure call), else `DefaultAzureCredential` (a managed identity, workload
 * identity, …). A loopback `AZURE_AUTHORITY_HOST` (a test double of Entra ID) is used as given.
 */
async function azureAccessToken(ctx: VaultLoginContext): Promise<string> {
  const resource = (ctx.opts.azure_resource || 'https://management.azure.com/').replace(/\/+$/, '');
  const identity = await loadSdk(BACKEND_NAME, '@azure/identity', () => import('@azure/identity'));
  const authorityHost = ctx.env.AZURE_AUTHORITY_HOST || undefined;
  const local = authorityHost !== undefined && isLoopbackEndpoint(authorityHost);
  const options = {
    ...(authorityHost ? { authorityHost } : {}),
    ...(local ? { disableInstanceDiscovery: true } : {}),
  };
  const credential =
    ctx.opts.key_id && ctx.opts.secret_id && ctx.opts.azure_tenant_id
      ? new identity.ClientSecretCredential(
          ctx.opts.azure_tenant_id,
          ctx.opts.key_id,
          ctx.opts.secret_id,
          options,
        )
      : new identity.DefaultAzureCredential(options);
  try {
    const token = await credential.getToken(`${resource}/.default`);
    return token.token;
  } catch (err) {
    const name = err instanceof Error ? err.name : typeof err;
    throw new AirlockError(
      'AIRLOCK_ERR_BACKEND_AUTH',
      `${BACKEND_NAME}: could not get an Azure token for ${resource} to log in with azure (${name}); give azure_tenant_id, key_id and secret_id, or run with a managed identity`,
      { details: { backend: BACKEND_NAME, auth_type: ctx.opts.auth_type, error: name } },
    );
  }
}

async function awsIamCredentials(ctx: VaultLoginContext): Promise<{
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}> {
  if (ctx.opts.key_id && ctx.opts.secret_id) {
    return { accessKeyId: ctx.opts.key_id, secretAccessKey: ctx.opts.secret_id };
  }
  const providers = await loadSdk(
    BACKEND_NAME,
    '@aws-sdk/credential-providers',
    () => import('@aws-sdk/credential-providers'),
  );
  const provider = ctx.opts.assume_role_kwargs
    ? providers.fromTemporaryCredentials({
        params: ctx.opts.assume_role_kwargs as unknown as Parameters<
          typeof providers.fromTemporaryCredentials
        >[0]['params'],
      })
    : providers.fromNodeProviderChain();
  try {
    const found = await provider();
    return {
      accessKeyId: found.accessKeyId,
      secretAccessKey: found.secretAccessKey,
      sessionToken: found.sessionToken,
    };
  } catch (err) {
    const name = err instanceof Error ? err.name : typeof err;
    throw new AirlockError(
      'AIRLOCK_ERR_BACKEND_AUTH',
      `${BACKEND_NAME}: no AWS credentials to log in with aws_iam (${name}); give key_id and secret_id, assume_role_kwargs, or the AWS default chain (AWS_ACCESS_KEY_ID, a profile, a role)`,
      { details: { backend: BACKEND_NAME, auth_type: ctx.opts.auth_type, error: name } },
    );
  }
}
