/**
 * `assume_role_method: assume_role_with_saml` end to end, with real parts: an MIT KDC started
 * here (krb5kdc on a loopback port), a user ticket from `kinit`, an IdP double that verifies the
 * SPNEGO token with GSSAPI against its keytab, moto's STS `AssumeRoleWithSAML`, and the built
 * `airlock` reading secrets with the assumed credentials (no AWS keys anywhere).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  awsSecretsManagerOptionsSchema,
  createAwsSecretsManagerBackend,
} from '../../src/backends/aws-secrets-manager.ts';
import { runAirlock } from '../helpers/cli.ts';
import { type Kdc, kerberosMissing, startKdc } from '../helpers/kdc.ts';
import { awsCli, useMoto } from '../helpers/moto.ts';
import { type SamlIdp, startSamlIdp } from '../helpers/saml-idp.ts';
import { tempDir } from '../helpers/tmp.ts';

const missing = await kerberosMissing();
const ROLE_ARN = 'arn:aws:iam::123456789012:role/airflow-saml-reader';
const PRINCIPAL_ARN = 'arn:aws:iam::123456789012:saml-provider/corp-adfs';
const XPATH = "//input[@name='SAMLResponse']/@value";

describe.skipIf(missing !== undefined)(
  `assume_role_with_saml${missing ? ` (skipped: ${missing})` : ''}`,
  () => {
    const moto = useMoto();
    const dir = tempDir('airlock-saml-');
    const home = tempDir('airlock-saml-home-');
    const ccache = join(dir, 'alice.ccache');
    let kdc: Kdc;
    let idp: SamlIdp;

    beforeAll(async () => {
      kdc = await startKdc(dir);
      await kdc.addUser('alice', 'alice-kerberos-pw');
      await kdc.addService('localhost');
      await kdc.kinit('alice', 'alice-kerberos-pw', ccache);
      // The in-process cases (and the IdP double) use the test realm through the environment,
      // as a process started with these variables would.
      process.env.KRB5_CONFIG = kdc.krb5Config;
      process.env.KRB5CCNAME = `FILE:${ccache}`;
      idp = await startSamlIdp({
        service: 'HTTP@localhost',
        keytab: kdc.keytab,
        roleArn: ROLE_ARN,
        principalArn: PRINCIPAL_ARN,
      });
      await awsCli(moto.server().url, home, [
        'secretsmanager',
        'create-secret',
        '--name',
        'airflow/variables/federated',
        '--secret-string',
        'read with a SAML-federated role',
      ]);
      await awsCli(moto.server().url, home, [
        'ssm',
        'put-parameter',
        '--name',
        '/airflow/variables/federated',
        '--value',
        'a parameter read with a SAML-federated role',
        '--type',
        'SecureString',
      ]);
    });
    afterAll(async () => {
      await idp?.close();
      await kdc?.stop();
    });
    beforeEach(() => {
      idp.requests.length = 0;
      idp.principals.length = 0;
      Object.assign(idp.behaviour, {
        page: 'form',
        mutual: 'send',
        failNext: { status: 503, count: 0 },
        sessionDuration: 3600,
      });
    });

    const saml = (extra: Record<string, unknown> = {}) => ({
      principal_arn: PRINCIPAL_ARN,
      idp_url: idp.url,
      idp_auth_method: 'http_spegno_auth',
      saml_response_xpath: XPATH,
      ...extra,
    });
    const kwargs = (extra: Record<string, unknown> = {}) => ({
      variables_prefix: 'airflow/variables',
      connections_prefix: 'airflow/connections',
      region_name: 'us-east-1',
      endpoint_url: moto.server().url,
      role_arn: ROLE_ARN,
      assume_role_method: 'assume_role_with_saml',
      assume_role_with_saml: saml(),
      service_config: { sts: { endpoint_url: moto.server().url } },
      ...extra,
    });
    /** The environment of a worker with a Kerberos ticket and no AWS keys at all. */
    const env = (backendKwargs: Record<string, unknown>, extra: Record<string, string> = {}) => ({
      AIRFLOW__SECRETS__BACKEND:
        'airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend',
      AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify(backendKwargs),
      HOME: home,
      AWS_CONFIG_FILE: join(home, 'no-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      KRB5_CONFIG: kdc.krb5Config,
      KRB5CCNAME: `FILE:${ccache}`,
      ...extra,
    });
    const signIn = () => [
      'GET /adfs/ls/IdpInitiatedSignOn.aspx 401',
      'GET /adfs/ls/IdpInitiatedSignOn.aspx 200 alice@AIRLOCK.TEST',
    ];

    it('signs in with the Kerberos ticket, assumes the role with the assertion and reads Secrets Manager', async () => {
      const r = await runAirlock(['variables', 'get', 'federated'], {
        env: env(kwargs({ assume_role_with_saml: saml({ mutual_authentication: 'REQUIRED' }) })),
      });
      expect(r).toMatchObject({ code: 0, stdout: 'read with a SAML-federated role\n', stderr: '' });
      expect(idp.requests).toEqual(signIn());
    });

    it('does the same for Parameter Store', async () => {
      const r = await runAirlock(['variables', 'get', 'federated'], {
        env: env(kwargs({ variables_prefix: '/airflow/variables' }), {
          AIRFLOW__SECRETS__BACKEND:
            'airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend',
        }),
      });
      expect(r).toMatchObject({
        code: 0,
        stdout: 'a parameter read with a SAML-federated role\n',
        stderr: '',
      });
      expect(idp.principals).toEqual(['alice@AIRLOCK.TEST']);
    });

    it('refuses an idp_auth_method Airflow does not implement, at start-up', async () => {
      const r = await runAirlock(['variables', 'get', 'federated'], {
        env: env(kwargs({ assume_role_with_saml: saml({ idp_auth_method: 'http_spnego' }) })),
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /^airlock: error AIRLOCK_ERR_CONFIG_INVALID: .*assume_role_with_saml\.idp_auth_method: idp_auth_method=http_spnego is not supported: currently only "http_spegno_auth" is, and must be specified/,
      );
      expect(idp.requests).toEqual([]);
    });

    it('refuses the method without its assume_role_with_saml settings, naming them', async () => {
      const r = await runAirlock(['variables', 'get', 'federated'], {
        env: env(kwargs({ assume_role_with_saml: undefined })),
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /AIRLOCK_ERR_CONFIG_INVALID: .*assume_role_with_saml: is required with assume_role_method "assume_role_with_saml"/,
      );
    });

    it('fails with a coded auth error naming the IdP when there is no ticket', async () => {
      const r = await runAirlock(['variables', 'get', 'federated'], {
        env: env(kwargs(), { KRB5CCNAME: `FILE:${join(dir, 'no-ticket.ccache')}` }),
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(
          `^airlock: error AIRLOCK_ERR_BACKEND_AUTH: aws-secrets-manager: SAML sign-in at the IdP ${idp.url.replace(/[.?]/g, '\\$&')} \\(assume_role_with_saml\\.idp_url\\) failed: no Kerberos ticket for HTTP@localhost \\([^)\\n]+\\); sign in with kinit \\(the ticket cache is \\$KRB5CCNAME\\)\\n$`,
        ),
      );
      expect(idp.requests).toEqual(['GET /adfs/ls/IdpInitiatedSignOn.aspx 401']);
    });

    it('fails with a coded auth error when the IdP refuses the ticket', async () => {
      // An IdP whose keytab holds another service's keys cannot read the ticket.
      const otherKeytab = join(dir, 'other.keytab');
      await kdc.addService('elsewhere', otherKeytab);
      const stale = await startSamlIdp({
        service: 'HTTP@localhost',
        keytab: otherKeytab,
        roleArn: ROLE_ARN,
        principalArn: PRINCIPAL_ARN,
      });
      try {
        const r = await runAirlock(['variables', 'get', 'federated'], {
          env: env(kwargs({ assume_role_with_saml: saml({ idp_url: stale.url }) })),
        });
        expect(r.code).toBe(1);
        expect(r.stderr).toBe(
          `airlock: error AIRLOCK_ERR_BACKEND_AUTH: aws-secrets-manager: SAML sign-in at the IdP ${stale.url} (assume_role_with_saml.idp_url) failed: the IdP refused the Kerberos ticket for HTTP@localhost (HTTP 401)\n`,
        );
        expect(stale.requests).toEqual([
          'GET /adfs/ls/IdpInitiatedSignOn.aspx 401',
          'GET /adfs/ls/IdpInitiatedSignOn.aspx 401 (token refused)',
        ]);
      } finally {
        await stale.close();
      }
    });

    it('fails without the page in the error when the XPath finds no assertion', async () => {
      idp.behaviour.page = 'no-form';
      const r = await runAirlock(['variables', 'get', 'federated'], { env: env(kwargs()) });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `airlock: error AIRLOCK_ERR_BACKEND_AUTH: aws-secrets-manager: SAML sign-in at the IdP ${idp.url} (assume_role_with_saml.idp_url) failed: its answer holds no SAML assertion at saml_response_xpath ${XPATH} (assume_role_with_saml.saml_response_xpath); check the XPath, and that the IdP signs this Kerberos principal in\n`,
      );
      expect(r.stderr).not.toMatch(/organisational|UserName|<form/);
    });

    it('checks the IdP as mutual_authentication asks', async () => {
      idp.behaviour.mutual = 'omit';
      const required = await runAirlock(['variables', 'get', 'federated'], {
        env: env(kwargs({ assume_role_with_saml: saml({ mutual_authentication: 'REQUIRED' }) })),
      });
      expect(required.code).toBe(1);
      expect(required.stderr).toMatch(
        /AIRLOCK_ERR_BACKEND_AUTH: .*failed: the IdP did not authenticate itself \(no Negotiate token in its answer; assume_role_with_saml\.mutual_authentication is REQUIRED\)\n$/,
      );
      const optional = await runAirlock(['variables', 'get', 'federated'], {
        env: env(kwargs({ assume_role_with_saml: saml({ mutual_authentication: 'OPTIONAL' }) })),
      });
      expect(optional).toMatchObject({ code: 0, stdout: 'read with a SAML-federated role\n' });
      idp.behaviour.mutual = 'forge';
      const forged = await runAirlock(['variables', 'get', 'federated'], {
        env: env(kwargs({ assume_role_with_saml: saml({ mutual_authentication: 'OPTIONAL' }) })),
      });
      expect(forged.code).toBe(1);
      expect(forged.stderr).toMatch(
        /AIRLOCK_ERR_BACKEND_AUTH: .*failed: the IdP's Negotiate token does not authenticate it \(/,
      );
      const disabled = await runAirlock(['variables', 'get', 'federated'], {
        env: env(kwargs({ assume_role_with_saml: saml({ mutual_authentication: 'DISABLED' }) })),
      });
      expect(disabled).toMatchObject({ code: 0, stdout: 'read with a SAML-federated role\n' });
    });

    it('retries the IdP as idp_request_retry_kwargs says', async () => {
      idp.behaviour.failNext = { status: 503, count: 2 };
      const r = await runAirlock(['variables', 'get', 'federated'], {
        env: env(
          kwargs({
            assume_role_with_saml: saml({
              idp_request_retry_kwargs: { total: 3, status_forcelist: [503], backoff_factor: 0.05 },
            }),
          }),
        ),
      });
      expect(r).toMatchObject({ code: 0, stdout: 'read with a SAML-federated role\n', stderr: '' });
      expect(idp.requests).toEqual([
        'GET /adfs/ls/IdpInitiatedSignOn.aspx 503',
        'GET /adfs/ls/IdpInitiatedSignOn.aspx 503',
        ...signIn(),
      ]);
      idp.behaviour.failNext = { status: 503, count: 1 };
      const once = await runAirlock(['variables', 'get', 'federated'], { env: env(kwargs()) });
      expect(once.stderr).toBe(
        `airlock: error AIRLOCK_ERR_BACKEND_UNAVAILABLE: aws-secrets-manager: SAML sign-in at the IdP ${idp.url} (assume_role_with_saml.idp_url) failed: HTTP 503\n`,
      );
    });

    it('bounds the IdP request by idp_request_kwargs.timeout, and names an unreachable IdP', async () => {
      const silent = createServer(() => {
        // accepts and never answers
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/adfs`;
      try {
        const started = Date.now();
        const r = await runAirlock(['variables', 'get', 'federated'], {
          env: env(
            kwargs({
              assume_role_with_saml: saml({ idp_url: url, idp_request_kwargs: { timeout: 1 } }),
            }),
          ),
        });
        expect(r.stderr).toBe(
          `airlock: error AIRLOCK_ERR_BACKEND_TIMEOUT: aws-secrets-manager: SAML sign-in at the IdP ${url} (assume_role_with_saml.idp_url) failed: no answer within 1 s (idp_request_kwargs.timeout)\n`,
        );
        expect(Date.now() - started).toBeLessThan(10_000);
      } finally {
        silent.closeAllConnections();
        silent.close();
      }
      const closed = 'http://127.0.0.1:9/adfs';
      const refused = await runAirlock(['variables', 'get', 'federated'], {
        env: env(kwargs({ assume_role_with_saml: saml({ idp_url: closed }) })),
      });
      expect(refused.stderr).toBe(
        `airlock: error AIRLOCK_ERR_BACKEND_UNAVAILABLE: aws-secrets-manager: SAML sign-in at the IdP ${closed} (assume_role_with_saml.idp_url) failed: the IdP cannot be reached (ECONNREFUSED)\n`,
      );
    });

    it('logs the IdP answer only with log_idp_response, the assertion masked', async () => {
      const quiet = await runAirlock(['variables', 'get', 'federated'], {
        env: env(kwargs(), { AIRLOCK__LOGGING__LEVEL: 'debug' }),
      });
      expect(quiet.stdout).toBe('read with a SAML-federated role\n');
      expect(quiet.stderr).not.toMatch(/IdP response|SAMLResponse/);
      const logged = await runAirlock(['variables', 'get', 'federated'], {
        env: env(kwargs({ assume_role_with_saml: saml({ log_idp_response: true }) }), {
          AIRLOCK__LOGGING__LEVEL: 'debug',
        }),
      });
      expect(logged.stdout).toBe('read with a SAML-federated role\n');
      expect(logged.stderr).toMatch(/log_idp_response is ON/);
      expect(logged.stderr).toMatch(/name=\\"SAMLResponse\\" value=\\"\*\*\*\\"/);
      const assertion = idp.assertions.at(-1) as string;
      expect(logged.stderr).not.toContain(assertion);
      expect(logged.stderr).not.toContain(assertion.slice(0, 40));
    });

    it('names the STS endpoint and its kwarg when STS cannot be reached', async () => {
      const closed = 'http://127.0.0.1:9';
      const r = await runAirlock(['variables', 'get', 'federated'], {
        env: env(kwargs({ service_config: { sts: { endpoint_url: closed } } })),
      });
      expect(r.stderr).toBe(
        `airlock: error AIRLOCK_ERR_BACKEND_UNAVAILABLE: aws-secrets-manager: could not assume role_arn ${ROLE_ARN} through STS at ${closed} (ECONNREFUSED); check service_config {"sts": {"endpoint_url": …}}\n`,
      );
    });

    it('signs in again only when the credentials are about to expire', async () => {
      const backend = (duration: number) => {
        idp.behaviour.sessionDuration = duration;
        return createAwsSecretsManagerBackend(awsSecretsManagerOptionsSchema.parse(kwargs()), {
          env: {},
        });
      };
      // Credentials for an hour: one sign-in serves both reads.
      const lasting = backend(3600);
      expect(await lasting.getVariable('federated')).toBe('read with a SAML-federated role');
      expect(await lasting.getVariable('federated')).toBe('read with a SAML-federated role');
      expect(idp.principals).toHaveLength(1);
      await lasting.dispose?.();
      // Credentials that end within the SDK's five-minute refresh window: each read signs in.
      idp.principals.length = 0;
      const brief = backend(120);
      expect(await brief.getVariable('federated')).toBe('read with a SAML-federated role');
      expect(await brief.getVariable('federated')).toBe('read with a SAML-federated role');
      // (The SDK asks its credential memo more than once per read; each asks the IdP then.)
      expect(idp.principals.length).toBeGreaterThanOrEqual(2);
      await brief.dispose?.();
    });
  },
);
