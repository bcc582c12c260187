/**
 * @module backends/_aws-saml
 * `assume_role_method: assume_role_with_saml`, as Airflow's `BaseSessionFactory` does it: a GET
 * of `idp_url` signed in with Kerberos SPNEGO (the ambient ticket cache, `$KRB5CCNAME`, through
 * the system GSSAPI and the `kerberos` package), the base64 SAMLResponse taken from the answer
 * with `saml_response_xpath`, then STS `AssumeRoleWithSAML`. The credentials carry their expiry,
 * so the SDK signs in again shortly before they run out, as for the other assumed roles.
 *
 * The IdP's answer holds a credential (the assertion): it never enters an error, and is logged
 * only with `log_idp_response`, the assertion masked. `kerberos`, `xpath`, `@xmldom/xmldom` and
 * `@aws-sdk/client-sts` are loaded on first use.
 */
import { AirlockError, type ErrorCode } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import { withRetry } from '../util/retry.ts';
import type { AwsConnectionOptions, SamlFederationOptions } from './_aws-options.ts';
import { createNodeFetch, errorCodeForStatus, type FetchLike, networkCode } from './_http.ts';
import { loadSdk } from './_sdk.ts';
import type { BackendName } from './backend.ts';

/** Temporary credentials with their expiry (what the SDK's credential memo refreshes on). */
export interface ExpiringCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

/** What {@link samlCredentialProvider} needs beyond the kwargs. */
export interface SamlContext {
  backend: BackendName;
  region: string | undefined;
  /** `service_config.sts.endpoint_url`, when given. */
  stsEndpoint: string | undefined;
  /** The STS client's connect and read timeouts, in ms (botocore config). */
  timeouts: { connectionTimeout: number; requestTimeout: number };
  /** The STS client's attempts (botocore config's retries). */
  maxAttempts?: number | undefined;
  logger?: Logger | undefined;
}

/** requests' default has no timeout; airlock bounds every IdP request (botocore's default). */
const DEFAULT_IDP_TIMEOUT_S = 60;
/** requests' `Session.max_redirects`. */
const MAX_REDIRECTS = 30;
/** urllib3 `Retry`'s defaults. */
const URLLIB3_TOTAL = 10;
const URLLIB3_BACKOFF_MAX_S = 120;

type Saml = SamlFederationOptions;

/** The IdP URL without user info, for messages. */
function shownUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

function idpError(
  code: ErrorCode,
  ctx: SamlContext,
  saml: Saml,
  why: string,
  details: Record<string, string | number> = {},
): AirlockError {
  return new AirlockError(
    code,
    `${ctx.backend}: SAML sign-in at the IdP ${shownUrl(saml.idp_url)} (assume_role_with_saml.idp_url) failed: ${why}`,
    { details: { backend: ctx.backend, kwarg: 'assume_role_with_saml.idp_url', ...details } },
  );
}

// ---------------------------------------------------------------------------------------------
// Loading the optional packages
// ---------------------------------------------------------------------------------------------

type KerberosModule = typeof import('kerberos');

async function loadKerberos(backend: BackendName): Promise<KerberosModule> {
  try {
    const mod = await loadSdk(backend, 'kerberos', () => import('kerberos'));
    return ((mod as { default?: KerberosModule }).default ?? mod) as KerberosModule;
  } catch (err) {
    if (err instanceof AirlockError) throw err;
    // Installed, but its native part was not built (no libkrb5-dev, or its install script not
    // allowed): `require('../build/Release/kerberos.node')` fails.
    throw new AirlockError(
      'AIRLOCK_ERR_BACKEND_SDK_MISSING',
      `${backend} needs the native part of the npm package kerberos, which is not built: install the Kerberos headers (Debian: apt-get install libkrb5-dev), then run \`npm rebuild kerberos\` (with npm 11, allow its build script: \`npm install-scripts approve kerberos\`)`,
      { details: { backend, package: 'kerberos' } },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The IdP request: SPNEGO, redirects, retries, deadline
// ---------------------------------------------------------------------------------------------

/** `Negotiate <token>` from a `WWW-Authenticate` header: the token, `''` for a bare offer. */
function negotiateToken(header: string | null): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(',')) {
    const m = /^\s*Negotiate(?:\s+([A-Za-z0-9+/=]+))?\s*$/i.exec(part);
    if (m) return m[1] ?? '';
  }
  return undefined;
}

/** The GSSAPI message without the minor status detail (fixed vocabulary, no values). */
function gssReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]?.slice(0, 200) ?? 'GSSAPI error';
}

/** The error codes of failures before any answer, told apart as urllib3 does. */
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** What stopped a request: `ETIMEDOUT` for the deadline, else the network error's code. */
function failureCode(err: unknown): string {
  const reason = err instanceof Error && err.name === 'AbortError' ? err.cause : err;
  if (reason instanceof Error && reason.name === 'TimeoutError') return 'ETIMEDOUT';
  return networkCode(err) ?? (err instanceof Error ? err.name : typeof err);
}

/** One request's retries, per urllib3 `Retry(**idp_request_retry_kwargs)`. */
function retryRules(kwargs: Saml['idp_request_retry_kwargs']) {
  if (!kwargs) return { retries: 0, onError: () => false, onStatus: () => false, delayMs: () => 0 };
  const total = kwargs.total ?? URLLIB3_TOTAL;
  const left = {
    connect: kwargs.connect ?? total,
    read: kwargs.read ?? total,
    status: kwargs.status ?? total,
  };
  const getRetried =
    !kwargs.allowed_methods || kwargs.allowed_methods.some((m) => m.toUpperCase() === 'GET');
  const forcelist = new Set(kwargs.status_forcelist ?? []);
  const factor = kwargs.backoff_factor ?? 0;
  const cap = kwargs.backoff_max ?? URLLIB3_BACKOFF_MAX_S;
  return {
    retries: total,
    onError(err: unknown): boolean {
      const kind = CONNECT_ERRORS.has(failureCode(err)) ? 'connect' : 'read';
      if (kind === 'read' && !getRetried) return false;
      left[kind] -= 1;
      return left[kind] >= 0;
    },
    onStatus(status: number): boolean {
      if (!getRetried || !forcelist.has(status)) return false;
      left.status -= 1;
      return left.status >= 0;
    },
    // urllib3 2: no wait before the first retry, then backoff_factor × 2^(n−1), capped.
    delayMs: (retry: number) => (retry <= 1 ? 0 : Math.min(cap, factor * 2 ** (retry - 1)) * 1000),
  };
}

interface IdpSession {
  fetch: FetchLike;
  timeoutMs: number;
  headers: Record<string, string>;
  rules: ReturnType<typeof retryRules>;
}

/** One GET with the session's deadline and retries; a network failure becomes a coded error. */
async function send(
  session: IdpSession,
  ctx: SamlContext,
  saml: Saml,
  url: string,
  authorization: string | undefined,
): Promise<Response> {
  const headers = { ...session.headers, ...(authorization ? { authorization } : {}) };
  try {
    return await withRetry(
      async () => {
        const res = await session.fetch(url, {
          method: 'GET',
          headers,
          signal: AbortSignal.timeout(session.timeoutMs),
        });
        return res;
      },
      {
        retries: session.rules.retries,
        delayMs: session.rules.delayMs,
        retryOn: session.rules.onError,
        retryResult: (res) => session.rules.onStatus(res.status),
      },
    );
  } catch (err) {
    const code = failureCode(err);
    const timedOut = code === 'ETIMEDOUT';
    throw idpError(
      timedOut ? 'AIRLOCK_ERR_BACKEND_TIMEOUT' : 'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
      ctx,
      saml,
      timedOut
        ? `no answer within ${session.timeoutMs / 1000} s (idp_request_kwargs.timeout)`
        : `the IdP cannot be reached (${code})`,
      { error: code },
    );
  }
}

/** Waits for `work` at most `ms`; the GSSAPI call asks the KDC over the network. */
async function within<T>(ms: number, work: Promise<T>, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * requests-gssapi's `HTTPSPNEGOAuth`: the GET goes out bare; a 401 offering `Negotiate` is
 * answered with a SPNEGO token for `HTTP@<host>` from the ticket cache; the IdP's own token is
 * checked as `mutual_authentication` asks. Redirects are followed (each hop may ask again).
 */
async function signedInGet(session: IdpSession, ctx: SamlContext, saml: Saml): Promise<Response> {
  const mutual = saml.mutual_authentication ?? 'DISABLED';
  const followRedirects = saml.idp_request_kwargs?.allow_redirects ?? true;
  const target = new URL(saml.idp_url);
  for (const [name, value] of Object.entries(saml.idp_request_kwargs?.params ?? {})) {
    target.searchParams.append(name, String(value));
  }
  let url = target.href;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
    let res = await send(session, ctx, saml, url, undefined);
    let client: import('kerberos').KerberosClient | undefined;
    if (res.status === 401 && negotiateToken(res.headers.get('www-authenticate')) !== undefined) {
      await res.arrayBuffer();
      const kerberos = await loadKerberos(ctx.backend);
      const service = `HTTP@${new URL(url).hostname}`;
      const gssFail = (err: unknown) =>
        idpError(
          'AIRLOCK_ERR_BACKEND_AUTH',
          ctx,
          saml,
          `no Kerberos ticket for ${service} (${gssReason(err)}); sign in with kinit (the ticket cache is $KRB5CCNAME)`,
          { service },
        );
      let token: string;
      try {
        const flags =
          kerberos.GSS_C_SEQUENCE_FLAG | (mutual === 'DISABLED' ? 0 : kerberos.GSS_C_MUTUAL_FLAG);
        const started = kerberos.initializeClient(service, {
          mechOID: kerberos.GSS_MECH_OID_SPNEGO,
          gssFlag: flags,
        });
        const timeout = () =>
          idpError(
            'AIRLOCK_ERR_BACKEND_TIMEOUT',
            ctx,
            saml,
            `the Kerberos ticket for ${service} took over ${session.timeoutMs / 1000} s (the KDC of $KRB5_CONFIG)`,
            { service },
          );
        client = await within(session.timeoutMs, started, timeout);
        token = await within(session.timeoutMs, client.step(''), timeout);
      } catch (err) {
        if (err instanceof AirlockError) throw err;
        throw gssFail(err);
      }
      res = await send(session, ctx, saml, url, `Negotiate ${token}`);
      if (res.status === 401) {
        await res.arrayBuffer();
        throw idpError(
          'AIRLOCK_ERR_BACKEND_AUTH',
          ctx,
          saml,
          `the IdP refused the Kerberos ticket for ${service} (HTTP 401)`,
          { service, status: 401 },
        );
      }
    }
    if (client && mutual !== 'DISABLED' && res.status < 400) {
      await checkMutual(client, res, mutual, ctx, saml);
    }
    const location = res.headers.get('location');
    if (followRedirects && res.status >= 300 && res.status < 400 && location) {
      await res.arrayBuffer();
      url = new URL(location, url).href;
      continue;
    }
    if (res.status >= 400) {
      await res.arrayBuffer();
      throw idpError(
        errorCodeForStatus(res.status) ?? 'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
        ctx,
        saml,
        `HTTP ${res.status}`,
        { status: res.status },
      );
    }
    return res;
  }
  throw idpError(
    'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
    ctx,
    saml,
    `more than ${MAX_REDIRECTS} redirects`,
  );
}

/** requests-gssapi's check of the IdP's `WWW-Authenticate: Negotiate <token>` on success. */
async function checkMutual(
  client: import('kerberos').KerberosClient,
  res: Response,
  mutual: string,
  ctx: SamlContext,
  saml: Saml,
): Promise<void> {
  const token = negotiateToken(res.headers.get('www-authenticate'));
  if (!token) {
    if (mutual === 'OPTIONAL') return;
    await res.arrayBuffer();
    throw idpError(
      'AIRLOCK_ERR_BACKEND_AUTH',
      ctx,
      saml,
      'the IdP did not authenticate itself (no Negotiate token in its answer; assume_role_with_saml.mutual_authentication is REQUIRED)',
    );
  }
  try {
    await client.step(token);
  } catch (err) {
    await res.arrayBuffer();
    throw idpError(
      'AIRLOCK_ERR_BACKEND_AUTH',
      ctx,
      saml,
      `the IdP's Negotiate token does not authenticate it (${gssReason(err)}; assume_role_with_saml.mutual_authentication)`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The assertion
// ---------------------------------------------------------------------------------------------

/**
 * The value `saml_response_xpath` selects in the IdP's answer, parsed as XML as Airflow's
 * `lxml.etree.fromstring` does: one string, or the one node it matches.
 */
async function extractAssertion(ctx: SamlContext, saml: Saml, page: string): Promise<string> {
  const [{ DOMParser }, xpath] = await Promise.all([
    loadSdk(ctx.backend, '@xmldom/xmldom', () => import('@xmldom/xmldom')),
    loadSdk(ctx.backend, 'xpath', () => import('xpath')),
  ]);
  const where = `saml_response_xpath ${saml.saml_response_xpath} (assume_role_with_saml.saml_response_xpath)`;
  let doc: Document;
  try {
    doc = new DOMParser({
      onError: (level) => {
        if (level !== 'warning') throw new Error('not well-formed');
      },
    }).parseFromString(page, 'text/xml') as unknown as Document;
  } catch {
    throw idpError(
      'AIRLOCK_ERR_BACKEND_AUTH',
      ctx,
      saml,
      `its answer is not well-formed XML, so ${where} cannot be applied`,
    );
  }
  let selected: import('xpath').SelectReturnType;
  try {
    selected = xpath.select(saml.saml_response_xpath, doc as unknown as Node);
  } catch {
    throw new AirlockError(
      'AIRLOCK_ERR_CONFIG_INVALID',
      `${ctx.backend}: ${where} is not a valid XPath expression`,
      {
        details: { backend: ctx.backend, kwarg: 'assume_role_with_saml.saml_response_xpath' },
      },
    );
  }
  let value: string | undefined;
  if (typeof selected === 'string') value = selected;
  else if (Array.isArray(selected) && selected.length === 1) {
    const node = selected[0] as Node;
    value = node.nodeValue ?? node.textContent ?? undefined;
  } else if (Array.isArray(selected) && selected.length > 1) {
    throw idpError(
      'AIRLOCK_ERR_BACKEND_AUTH',
      ctx,
      saml,
      `${where} matches ${selected.length} nodes, not one`,
    );
  }
  const assertion = value?.trim();
  if (!assertion) {
    throw idpError(
      'AIRLOCK_ERR_BACKEND_AUTH',
      ctx,
      saml,
      `its answer holds no SAML assertion at ${where}; check the XPath, and that the IdP signs this Kerberos principal in`,
    );
  }
  return assertion;
}

/** Signs in at the IdP and returns the base64 SAML assertion. */
export async function fetchSamlAssertion(ctx: SamlContext, saml: Saml): Promise<string> {
  const kwargs = saml.idp_request_kwargs ?? {};
  const timeout = kwargs.timeout ?? DEFAULT_IDP_TIMEOUT_S;
  const node = await createNodeFetch(ctx.backend, {
    verify: kwargs.verify ?? true,
    ...(kwargs.cert ? { cert: kwargs.cert } : {}),
  });
  try {
    const session: IdpSession = {
      fetch: node.fetch,
      timeoutMs: (Array.isArray(timeout) ? Math.max(...timeout) : timeout) * 1000,
      headers: kwargs.headers ?? {},
      rules: retryRules(saml.idp_request_retry_kwargs),
    };
    const res = await signedInGet(session, ctx, saml);
    const page = await res.text();
    let assertion: string | undefined;
    try {
      assertion = await extractAssertion(ctx, saml, page);
      return assertion;
    } finally {
      if (saml.log_idp_response && ctx.logger) {
        ctx.logger.warn(
          { backend: ctx.backend },
          'The IdP response contains sensitive information, but log_idp_response is ON; the assertion is masked',
        );
        const masked = assertion ? page.split(assertion).join('***') : page;
        ctx.logger.debug(
          { backend: ctx.backend, xpath: saml.saml_response_xpath, idp_response: masked },
          'IdP response',
        );
      }
    }
  } finally {
    node.close();
  }
}

// ---------------------------------------------------------------------------------------------
// STS AssumeRoleWithSAML
// ---------------------------------------------------------------------------------------------

/**
 * A credential provider: each call signs in at the IdP and asks STS `AssumeRoleWithSAML` (no
 * AWS credentials needed: the assertion is the proof). The SDK calls it again shortly before
 * `expiration`.
 *
 * @example
 * ```ts
 * const credentials = samlCredentialProvider(opts, ctx);
 * new SecretsManagerClient({ credentials });
 * ```
 */
export function samlCredentialProvider(
  opts: AwsConnectionOptions,
  ctx: SamlContext,
): () => Promise<ExpiringCredentials> {
  const saml = opts.assume_role_with_saml as Saml;
  const roleArn = opts.role_arn as string;
  const kwargs = opts.assume_role_kwargs ?? {};
  return async () => {
    const assertion = await fetchSamlAssertion(ctx, saml);
    const sts = await loadSdk(
      ctx.backend,
      '@aws-sdk/client-sts',
      () => import('@aws-sdk/client-sts'),
    );
    const client = new sts.STSClient({
      ...(ctx.region ? { region: ctx.region } : {}),
      ...(ctx.stsEndpoint ? { endpoint: ctx.stsEndpoint } : {}),
      requestHandler: { ...ctx.timeouts, throwOnRequestTimeout: true },
      ...(ctx.maxAttempts === undefined ? {} : { maxAttempts: ctx.maxAttempts }),
    });
    try {
      const out = await client.send(
        new sts.AssumeRoleWithSAMLCommand({
          ...kwargs,
          RoleArn: roleArn,
          PrincipalArn: saml.principal_arn,
          SAMLAssertion: assertion,
        }),
      );
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
        throw new AirlockError(
          'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
          `${ctx.backend}: STS AssumeRoleWithSAML for role_arn ${roleArn} answered without credentials`,
          {
            details: { backend: ctx.backend, kwarg: 'service_config.sts.endpoint_url' },
          },
        );
      }
      return {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        sessionToken: c.SessionToken,
        expiration: c.Expiration,
      };
    } finally {
      client.destroy();
    }
  };
}
