/**
 * @module server/runtime
 * The deployment's effective environment: the server process's environment overlaid with the
 * deployment settings kept in the database (a setting wins over the process's variable of the
 * same name, as a Deployment's environment wins over the image's). The resolver the server uses
 * (`which`, connection tests, and the runs it starts) is built from it.
 *
 * Every read checks the settings version row (one indexed read), so a change made through any
 * server process sharing the database applies to the next request here, without a restart.
 */
import { loadConfig } from '../config/load-config.ts';
import { applyProcessSettings } from '../config/process-settings.ts';
import type { Config } from '../config/schema.ts';
import { AirlockError, ConfigError, isAirlockError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import { registerEnvironmentSecrets, registerKwargsSecrets } from '../masking/deployment.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import type { Metastore } from '../metastore/metastore.ts';
import { openSecrets } from '../resolver/open.ts';
import type { Resolver } from '../resolver/resolver.ts';
import type { ServerStore } from './store.ts';

/** An environment: names to values. */
export type Env = Readonly<Record<string, string | undefined>>;

/** The state built from one settings version. */
interface Snapshot {
  readonly version: number;
  readonly env: Env;
  config?: Config;
  resolver?: Resolver;
}

/** Options of {@link DeploymentRuntime}. */
export interface DeploymentRuntimeOptions {
  metastore: Metastore;
  store: ServerStore;
  /** The server process's environment. */
  baseEnv: Env;
  /** Every secret setting's value is registered in it (logs and error bodies mask them). */
  masker: SecretsMasker;
  logger?: Logger | undefined;
}

/**
 * The effective environment and resolver of the deployment, rebuilt when the settings change.
 *
 * @example
 * ```ts
 * const runtime = new DeploymentRuntime({ metastore, store, baseEnv: process.env, masker });
 * const env = await runtime.environment(); // process env + deployment settings
 * ```
 */
export class DeploymentRuntime {
  readonly #options: DeploymentRuntimeOptions;
  #snapshot: Promise<Snapshot> | undefined;

  constructor(options: DeploymentRuntimeOptions) {
    this.#options = options;
  }

  async #current(): Promise<Snapshot> {
    const version = await this.#options.store.settingsVersion();
    const held = this.#snapshot ? await this.#snapshot.catch(() => undefined) : undefined;
    if (held && held.version === version) return held;
    const building = this.#build(version);
    this.#snapshot = building;
    building.catch(() => {
      if (this.#snapshot === building) this.#snapshot = undefined;
    });
    if (held?.resolver) await held.resolver.dispose().catch(() => {});
    return building;
  }

  async #build(version: number): Promise<Snapshot> {
    const settings = await this.#options.store.listSettings({ withSecrets: true });
    const env: Record<string, string | undefined> = { ...this.#options.baseEnv };
    const { masker } = this.#options;
    for (const setting of settings) {
      env[setting.name] = setting.value ?? '';
      if (setting.secret && setting.value) {
        masker.addSecret(setting.value);
        // A secret JSON setting (backend kwargs): each credential inside it on its own too.
        registerKwargsSecrets(masker, setting.value);
      }
    }
    // The deployment's own credentials (kwargs fields, Fernet keys, URL passwords, the admin
    // password), known before any output that could hold them is written.
    registerEnvironmentSecrets(masker, env);
    // What Node reads only at start (NODE_EXTRA_CA_CERTS) is applied to this running server.
    try {
      applyProcessSettings(env, this.#options.baseEnv);
    } catch (err) {
      this.#options.logger?.warn(
        { code: isAirlockError(err) ? err.code : 'AIRLOCK_ERR_CONFIG_INVALID' },
        err instanceof Error ? err.message : 'a deployment setting could not be applied',
      );
    }
    return { version, env: Object.freeze(env) };
  }

  /** The deployment's environment (process env + settings), for runs the server starts. */
  async environment(): Promise<Env> {
    return (await this.#current()).env;
  }

  /**
   * The configuration read from {@link environment}.
   *
   * @throws ConfigError when the settings make it invalid.
   */
  async config(): Promise<Config> {
    const snapshot = await this.#current();
    snapshot.config ??= loadConfig(snapshot.env);
    return snapshot.config;
  }

  /** The resolver over the configured chain, ending with this server's metastore. */
  async resolver(): Promise<Resolver> {
    const snapshot = await this.#current();
    if (!snapshot.resolver) {
      snapshot.config ??= loadConfig(snapshot.env);
      const { metastore, masker, logger } = this.#options;
      // Purpose `server`: its own lookups (provenance, connection tests) show what the stores
      // hold now, so edits through this or another server never hide behind a cache.
      snapshot.resolver = openSecrets(snapshot.config, {
        purpose: 'server',
        env: snapshot.env,
        masker,
        logger,
        metastore,
      }).resolver;
    }
    return snapshot.resolver;
  }

  /**
   * Checks that `env` overlaid with a changed setting still makes a valid configuration.
   *
   * @throws AirlockError `AIRLOCK_ERR_HTTP_BAD_REQUEST` naming each problem (never a value).
   */
  async checkChange(name: string, value: string | undefined): Promise<void> {
    const env: Record<string, string | undefined> = { ...(await this.environment()) };
    if (value === undefined) env[name] = this.#options.baseEnv[name];
    else env[name] = value;
    try {
      loadConfig(env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      throw new AirlockError(
        'AIRLOCK_ERR_HTTP_BAD_REQUEST',
        `the change would make the configuration invalid: ${err.issues.join('; ')}`,
      );
    }
  }

  /** Disposes the current resolver. */
  async dispose(): Promise<void> {
    const held = await this.#snapshot?.catch(() => undefined);
    this.#snapshot = undefined;
    await held?.resolver?.dispose().catch(() => {});
  }
}
