/**
 * A real MIT Kerberos KDC for the SAML federation tests: `krb5kdc` on a loopback port, with its
 * own `krb5.conf` / `kdc.conf` in a temporary folder (KRB5_CONFIG, KRB5_KDC_PROFILE), a realm
 * made with `kdb5_util`, principals and an HTTP service keytab made with `kadmin.local`, and user
 * tickets from `kinit` into a ticket cache of the test's choosing (KRB5CCNAME).
 *
 * Debian packages: krb5-kdc (krb5kdc, kdb5_util), krb5-admin-server (kadmin.local), krb5-user
 * (kinit), libkrb5-dev (to build the `kerberos` npm package). `.ci/run` installs them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { freePort } from './moto.ts';
import { runProcess } from './process.ts';
import { findOnPath } from './tools.ts';

/** The realm of the test KDC. */
export const REALM = 'AIRLOCK.TEST';

const TOOLS = ['krb5kdc', 'kdb5_util', 'kadmin.local', 'kinit'] as const;
const SBIN = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function tool(name: string): string | undefined {
  return findOnPath(name) ?? SBIN.map((d) => join(d, name)).find((p) => existsSync(p));
}

/**
 * Why the Kerberos tests cannot run here (a missing Debian package or an unbuilt `kerberos`
 * package), or `undefined` when they can.
 */
export async function kerberosMissing(): Promise<string | undefined> {
  const absent = TOOLS.filter((t) => tool(t) === undefined);
  if (absent.length > 0) {
    return `${absent.join(', ')} not installed (apt-get install krb5-kdc krb5-admin-server krb5-user libkrb5-dev)`;
  }
  try {
    await import('kerberos');
  } catch {
    return 'the kerberos npm package is not built (apt-get install libkrb5-dev, then npm rebuild kerberos)';
  }
  return undefined;
}

/** A running KDC. */
export interface Kdc {
  readonly realm: string;
  /** The krb5.conf clients use (KRB5_CONFIG). */
  readonly krb5Config: string;
  /** The keytab of the HTTP service principal(s) made with {@link Kdc.addService}. */
  readonly keytab: string;
  /** Adds a user principal with a password. */
  addUser(name: string, password: string): Promise<void>;
  /** Adds `HTTP/<host>` and writes its keys to `keytab` (`ktadd` makes new keys each time). */
  addService(host: string, keytab?: string): Promise<void>;
  /** `kinit` into `ccache` (a path); `lifetime` as kinit's `-l`. */
  kinit(user: string, password: string, ccache: string, lifetime?: string): Promise<void>;
  stop(): Promise<void>;
}

async function run(
  env: NodeJS.ProcessEnv,
  name: string,
  args: string[],
  input?: string,
): Promise<void> {
  const r = await runProcess(tool(name) as string, args, {
    env,
    ...(input === undefined ? {} : { input }),
  });
  if (r.code !== 0) throw new Error(`${name} ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
}

/** Waits until the KDC accepts TCP connections on `port`. */
async function listening(port: number, child: ChildProcess, log: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`krb5kdc exited (${child.exitCode}); see ${log}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.connect(port, '127.0.0.1');
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`krb5kdc did not listen on 127.0.0.1:${port}; see ${log}`);
}

/**
 * Creates a realm in `dir` and starts `krb5kdc -n` on a free loopback port (TCP and UDP).
 *
 * @example
 * ```ts
 * const kdc = await startKdc(tempDir('kdc-'));
 * await kdc.addUser('alice', 'pw');
 * await kdc.kinit('alice', 'pw', join(dir, 'ccache'));
 * ```
 */
export async function startKdc(dir: string): Promise<Kdc> {
  const port = await freePort();
  const db = join(dir, 'db');
  mkdirSync(db, { recursive: true });
  const krb5Config = join(dir, 'krb5.conf');
  const kdcConf = join(dir, 'kdc.conf');
  const keytab = join(dir, 'http.keytab');
  const log = join(dir, 'kdc.log');
  writeFileSync(
    krb5Config,
    [
      '[libdefaults]',
      `  default_realm = ${REALM}`,
      '  dns_lookup_kdc = false',
      '  dns_lookup_realm = false',
      '  dns_canonicalize_hostname = false',
      '  rdns = false',
      '  udp_preference_limit = 1',
      '[realms]',
      `  ${REALM} = {`,
      `    kdc = 127.0.0.1:${port}`,
      '  }',
      '[domain_realm]',
      `  localhost = ${REALM}`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    kdcConf,
    [
      '[kdcdefaults]',
      `  kdc_listen = 127.0.0.1:${port}`,
      `  kdc_tcp_listen = 127.0.0.1:${port}`,
      '[realms]',
      `  ${REALM} = {`,
      `    database_name = ${join(db, 'principal')}`,
      `    key_stash_file = ${join(db, 'stash')}`,
      `    acl_file = ${join(db, 'kadm5.acl')}`,
      '    max_life = 10h',
      '  }',
      '[logging]',
      `  kdc = FILE:${log}`,
      '',
    ].join('\n'),
  );
  const env = { ...process.env, KRB5_CONFIG: krb5Config, KRB5_KDC_PROFILE: kdcConf };
  await run(env, 'kdb5_util', ['create', '-s', '-r', REALM, '-P', 'kdc-master-password']);
  const child = spawn(tool('krb5kdc') as string, ['-n', '-P', join(dir, 'kdc.pid')], {
    env,
    stdio: 'ignore',
  });
  await listening(port, child, log);
  const kadmin = (query: string) => run(env, 'kadmin.local', ['-q', query]);
  return {
    realm: REALM,
    krb5Config,
    keytab,
    addUser: (name, password) => kadmin(`addprinc -pw ${password} ${name}`),
    async addService(host, into = keytab) {
      await kadmin(`addprinc -randkey HTTP/${host}`).catch(() => undefined);
      await kadmin(`ktadd -k ${into} HTTP/${host}`);
    },
    kinit: (user, password, ccache, lifetime) =>
      run(
        { ...env, KRB5CCNAME: `FILE:${ccache}` },
        'kinit',
        [...(lifetime ? ['-l', lifetime] : []), user],
        `${password}\n`,
      ),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
