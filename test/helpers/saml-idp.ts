/**
 * An identity provider double for `assume_role_with_saml`, as an ADFS-like IdP behaves towards
 * Airflow's requests-gssapi client: a GET without credentials gets `401` with
 * `WWW-Authenticate: Negotiate`; a GET with `Authorization: Negotiate <token>` has its SPNEGO
 * token verified server-side with GSSAPI against the service keytab (the `kerberos` package's
 * server API, `$KRB5_KTNAME`), and gets an HTML page whose form carries the base64
 * `SAMLResponse` for the Kerberos principal, with the IdP's own Negotiate token for mutual
 * authentication. The assertion is built for moto's STS `AssumeRoleWithSAML`, which reads its
 * Role, RoleSessionName and SessionDuration attributes.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Options of {@link startSamlIdp}. */
export interface SamlIdpOptions {
  /** The GSSAPI service name the IdP accepts as, e.g. `HTTP@localhost`. */
  service: string;
  /** The keytab holding the service's keys (set as `$KRB5_KTNAME` when a token is verified). */
  keytab: string;
  /** The IAM role and SAML provider the assertion names. */
  roleArn: string;
  principalArn: string;
  /** Seconds the assertion grants (AWS's SessionDuration attribute). @default 3600 */
  sessionDuration?: number;
}

/** What a test changes on the running double. */
export interface SamlIdpBehaviour {
  /** How the IdP answers after sign-in: `form` (the SAMLResponse form) or `no-form` (a login page). */
  page: 'form' | 'no-form';
  /** Its own Negotiate token on the 200: `send`, `omit`, or `forge` (one that does not verify). */
  mutual: 'send' | 'omit' | 'forge';
  /** Answer this status to the next `n` requests (a flaky IdP), then behave. */
  failNext: { status: number; count: number };
  /** Seconds the assertion grants. */
  sessionDuration: number;
}

/** A running IdP double. */
export interface SamlIdp {
  /** `http://localhost:<port>/adfs/ls/IdpInitiatedSignOn.aspx`. */
  readonly url: string;
  /** `METHOD path status [principal]`, one line per request. */
  readonly requests: string[];
  /** The Kerberos principals it signed in. */
  readonly principals: string[];
  /** The assertions it handed out (base64). */
  readonly assertions: string[];
  readonly behaviour: SamlIdpBehaviour;
  close(): Promise<void>;
}

/** A SAML 2.0 Response with the attributes AWS (and moto) read. */
function samlResponse(principal: string, options: SamlIdpOptions, duration: number): string {
  const now = new Date().toISOString();
  const user = principal.split('@')[0] ?? principal;
  const attribute = (name: string, value: string) =>
    `<saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/${name}"><saml:AttributeValue>${value}</saml:AttributeValue></saml:Attribute>`;
  const xml =
    `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r${Date.now()}" Version="2.0" IssueInstant="${now}" Destination="https://signin.aws.amazon.com/saml">` +
    '<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">http://localhost/adfs/services/trust</saml:Issuer>' +
    '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>' +
    `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a${Date.now()}" IssueInstant="${now}" Version="2.0">` +
    '<saml:Issuer>http://localhost/adfs/services/trust</saml:Issuer>' +
    `<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">${principal}</saml:NameID></saml:Subject>` +
    '<saml:AttributeStatement>' +
    attribute('Role', `${options.roleArn},${options.principalArn}`) +
    attribute('RoleSessionName', user) +
    attribute('SessionDuration', String(duration)) +
    '</saml:AttributeStatement></saml:Assertion></samlp:Response>';
  return Buffer.from(xml).toString('base64');
}

function page(assertion: string | undefined): string {
  const form =
    assertion === undefined
      ? '<p>Sign in with your organisational account.</p><form method="post" action="/adfs/ls/"><input name="UserName" value=""/></form>'
      : `<form method="post" name="hiddenform" action="https://signin.aws.amazon.com/saml"><input type="hidden" name="SAMLResponse" value="${assertion}"/><noscript><p>Script is disabled. Click Submit to continue.</p><input type="submit" value="Submit"/></noscript></form>`;
  return `<html><head><title>Working...</title></head><body>${form}</body></html>`;
}

/**
 * Starts the double on `localhost` (the host its service principal is named after), port 0.
 *
 * @example
 * ```ts
 * const idp = await startSamlIdp({ service: 'HTTP@localhost', keytab, roleArn, principalArn });
 * ```
 */
export async function startSamlIdp(options: SamlIdpOptions): Promise<SamlIdp> {
  const kerberos = (await import('kerberos')).default ?? (await import('kerberos'));
  const requests: string[] = [];
  const principals: string[] = [];
  const assertions: string[] = [];
  const behaviour: SamlIdpBehaviour = {
    page: 'form',
    mutual: 'send',
    failNext: { status: 503, count: 0 },
    sessionDuration: options.sessionDuration ?? 3600,
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const line = `${req.method} ${new URL(req.url ?? '/', 'http://localhost').pathname}`;
    if (behaviour.failNext.count > 0) {
      behaviour.failNext.count -= 1;
      requests.push(`${line} ${behaviour.failNext.status}`);
      res.writeHead(behaviour.failNext.status).end();
      return;
    }
    const m = /^Negotiate\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m?.[1]) {
      requests.push(`${line} 401`);
      res.writeHead(401, { 'www-authenticate': 'Negotiate', 'content-type': 'text/html' });
      res.end('<html><body>401 Unauthorized</body></html>');
      return;
    }
    let server: import('kerberos').KerberosServer;
    try {
      process.env.KRB5_KTNAME = `FILE:${options.keytab}`;
      server = await kerberos.initializeServer(options.service);
      await server.step(m[1]);
    } catch {
      requests.push(`${line} 401 (token refused)`);
      res.writeHead(401, { 'www-authenticate': 'Negotiate' }).end();
      return;
    }
    principals.push(server.username);
    requests.push(`${line} 200 ${server.username}`);
    let assertion: string | undefined;
    if (behaviour.page === 'form') {
      assertion = samlResponse(server.username, options, behaviour.sessionDuration);
      assertions.push(assertion);
    }
    const headers: Record<string, string> = { 'content-type': 'text/html; charset=utf-8' };
    if (behaviour.mutual === 'send') headers['www-authenticate'] = `Negotiate ${server.response}`;
    if (behaviour.mutual === 'forge') headers['www-authenticate'] = 'Negotiate oYGPMIGMoAMKAQA=';
    res.writeHead(200, headers).end(page(assertion));
  }

  const http = createServer((req, res) => {
    handle(req, res).catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://localhost:${port}/adfs/ls/IdpInitiatedSignOn.aspx`,
    requests,
    principals,
    assertions,
    behaviour,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}
