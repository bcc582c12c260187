/**
 * @module server/serve
 * Starts `airlock server`: opens (and on first start creates and migrates) the metastore,
 * generating the Fernet key as `airlock db migrate` does, creates the first admin, and listens
 * with the Node adapter.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { loadConfig } from '../config/load-config.ts';
import { AirlockError, isAirlockError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import { SecretsMasker } from '../masking/masker.ts';
import type { Metastore } from '../metastore/metastore.ts';
import { openMetastoreFromConfig } from '../metastore/open.ts';
import { createServerApp } from './app.ts';
import type { AppDeps, RouteModule } from './context.ts';
import { authCacheSecondsFromEnv } from './limits.ts';
import type { Env } from './runtime.ts';
import { generatePassword, ServerStore } from './store.ts';

/** Options of {@link startServer}. */
export interface StartServerOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** `0` picks a free port. @default 8080 */
  port?: number;
  /** The process environment (configuration, `AIRLOCK_ADMIN_PASSWORD`). @default process.env */
  env?: Env;
  /** Where notices go (the generated admin password, a created schema). @default stderr */
  notice?: (message: string) => void;
  masker?: SecretsMasker;
  logger?: Logger;
  /** Mark cookies `Secure` and send HSTS (behind HTTPS). @default false */
  secureCookies?: boolean;
  /** Read the client address from `X-Forwarded-For`. @default false */
  trustProxy?: boolean;
  /** Settings allowed although they control spawned programs (see `ServerDeps`). */
  allowedRuntimeSettings?: readonly string[];
  /** Extra route modules (see `ServerDeps.extensions`). */
  extensions?: readonly RouteModule[];
  /** Extra navigation links for the extensions' pages. */
  navigation?: readonly { href: string; label: string }[];
}

/** A running server. */
export interface RunningServer {
  /** `http://host:port`. */
  readonly url: string;
  readonly metastore: Metastore;
  /** What the routes share (for in-process workers). */
  readonly deps: AppDeps;
  /** Stops listening and closes the metastore. */
  close(): Promise<void>;
}

/**
 * Creates the user `admin` when no user exists: its password is `AIRLOCK_ADMIN_PASSWORD`, or a
 * generated one, printed once through `notice`.
 */
export async function ensureAdmin(
  store: ServerStore,
  env: Env,
  notice: (message: string) => void,
): Promise<void> {
  if ((await store.countUsers()) > 0) return;
  const given = env.AIRLOCK_ADMIN_PASSWORD;
  const password = given && given.length > 0 ? given : generatePassword();
  try {
    await store.createUser('admin', password, 'admin');
  } catch (err) {
    // Another process sharing the database created it first.
    if (isAirlockError(err) && err.code === 'AIRLOCK_ERR_HTTP_CONFLICT') return;
    if (isAirlockError(err) && err.code === 'AIRLOCK_ERR_STORE_CONFLICT') return;
    throw err;
  }
  if (given) notice('created the user `admin` with the password from AIRLOCK_ADMIN_PASSWORD');
  else {
    notice(
      `created the user \`admin\` with the generated password: ${password}\n  (shown only this once; change it with \`airlock users create admin --role admin --force\`)`,
    );
  }
}

/**
 * Starts the server.
 *
 * @example
 * ```ts
 * const server = await startServer({ port: 0 });
 * console.log(server.url);
 * await server.close();
 * ```
 */
export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const env = options.env ?? process.env;
  const notice = options.notice ?? ((m: string) => process.stderr.write(`airlock: ${m}\n`));
  const config = loadConfig(env);
  const masker = options.masker ?? new SecretsMasker();
  masker.configure({
    sensitiveWords: config.core.sensitiveVarConnNames,
    hideSensitive: config.core.hideSensitiveVarConnFields,
  });
  const metastore = (await openMetastoreFromConfig(config, {
    intent: 'write',
    onNotice: notice,
  })) as Metastore;
  try {
    const store = new ServerStore(metastore, { authCacheSeconds: authCacheSecondsFromEnv(env) });
    await ensureAdmin(store, env, notice);
    const created = createServerApp({
      metastore,
      store,
      env,
      masker,
      ...(options.logger ? { logger: options.logger } : {}),
      secureCookies: options.secureCookies ?? false,
      trustProxy: options.trustProxy ?? false,
      ...(options.allowedRuntimeSettings
        ? { allowedRuntimeSettings: options.allowedRuntimeSettings }
        : {}),
      ...(options.extensions ? { extensions: options.extensions } : {}),
      ...(options.navigation ? { navigation: options.navigation } : {}),
    });
    const host = options.host ?? '127.0.0.1';
    const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve(
        { fetch: created.app.fetch, hostname: host, port: options.port ?? 8080 },
        () => resolve(s),
      );
      s.once('error', (err: NodeJS.ErrnoException) => {
        const where = `${host}:${options.port ?? 8080}`;
        const why =
          err.code === 'EADDRINUSE'
            ? 'the port is in use (is another airlock server still running?)'
            : err.code === 'EACCES'
              ? 'permission denied (ports below 1024 need privileges)'
              : err.code === 'EADDRNOTAVAIL'
                ? "the address is not one of this machine's"
                : (err.code ?? err.name);
        reject(
          new AirlockError('AIRLOCK_ERR_HTTP_LISTEN_FAILED', `cannot listen on ${where}: ${why}`, {
            details: { host, port: options.port ?? 8080, errno: err.code ?? 'unknown' },
          }),
        );
      });
    });
    const address = server.address() as AddressInfo;
    const shown = host.includes(':') ? `[${host}]` : host;
    const url = `http://${shown}:${address.port}`;
    let closing: Promise<void> | undefined;
    return {
      url,
      metastore,
      deps: created.deps,
      close() {
        closing ??= (async () => {
          await new Promise<void>((resolve) => {
            server.close(() => resolve());
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          });
          await created.dispose();
          await metastore.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    await metastore.close();
    throw err;
  }
}
