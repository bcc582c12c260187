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
import { allowedSettingsFromEnv, controlsRuntime } from '../config/runtime-settings.ts';
import { type Config, ENV } from '../config/schema.ts';
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

export {
  allowedSettingsFromEnv,
  controlsRuntime,
  RUNTIME_CONTROL_PREFIXES,
  RUNTIME_CONTROL_SETTINGS,
} from '../config/runtime-settings.ts';

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
  /**
   * Settings named in `RUNTIME_CONTROL_SETTINGS` that this process allows.
   * @default `AIRLOCK__SERVER__ALLOWED_RUNTIME_SETTINGS` of `baseEnv`
   */
  allowedSettings?: readonly string[];
}

/**
 * Runs `build`; a configuration that cannot be used (a backend set before its kwargs, or an
 * invalid setting in the server's own environment) becomes a 503 naming the problems, not an
 * internal error.
 */
function unusable<T>(build: () => T): T {
  try {
    return build();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new AirlockError(
      'AIRLOCK_ERR_HTTP_DEPLOYMENT_INVALID',
      `the deployment's configuration cannot be used: ${err.issues.join('; ')}; fix the deployment settings (or the server's environment)`,
      { cause: err },
    );
  }
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
  readonly #allowed: ReadonlySet<string>;
  #snapshot: Promise<Snapshot> | undefined;

  constructor(options: DeploymentRuntimeOptions) {
    this.#options = options;
    this.#allowed = new Set(options.allowedSettings ?? allowedSettingsFromEnv(options.baseEnv));
  }

  /** Whether a setting by this name may be stored and applied here. */
  settingAllowed(name: string): boolean {
    return !controlsRuntime(name) || this.#allowed.has(name);
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
      if (setting.secret && setting.value) {
        masker.addSecret(setting.value);
        // A secret JSON setting (backend kwargs): each credential inside it on its own too.
        registerKwargsSecrets(masker, setting.value);
      }
      // One stored before this server refused its name, or allowed on another server only.
      if (!this.settingAllowed(setting.name)) {
        this.#options.logger?.warn(
          { setting: setting.name },
          'a deployment setting that controls spawned programs is not applied (start the server with --allow-setting to apply it)',
        );
        continue;
      }
      env[setting.name] = setting.value ?? '';
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
   * @throws AirlockError `AIRLOCK_ERR_HTTP_DEPLOYMENT_INVALID` when the settings make it invalid.
   */
  async config(): Promise<Config> {
    const snapshot = await this.#current();
    snapshot.config ??= unusable(() => loadConfig(snapshot.env));
    return snapshot.config;
  }

  /** The resolver over the configured chain, ending with this server's metastore. */
  async resolver(): Promise<Resolver> {
    const snapshot = await this.#current();
    if (!snapshot.resolver) {
      snapshot.config ??= unusable(() => loadConfig(snapshot.env));
      const { metastore, masker, logger } = this.#options;
      // Purpose `server`: its own lookups (provenance, connection tests) show what the stores
      // hold now, so edits through this or another server never hide behind a cache.
      const config = snapshot.config;
      snapshot.resolver = unusable(
        () =>
          openSecrets(config, {
            purpose: 'server',
            env: snapshot.env,
            masker,
            logger,
            metastore,
          }).resolver,
      );
    }
    return snapshot.resolver;
  }

  /**
   * Checks a change of one setting (`value` `undefined`: deleting it): its name must not control
   * spawned programs (unless allowed), and the *effective* configuration it makes — the
   * environment overlaid with it — must load and build its chain, as `which`, `/health` and the
   * runs will: every backend's kwargs are checked by the backend's own factory, not only by the
   * configuration schema.
   *
   * @throws AirlockError `AIRLOCK_ERR_HTTP_SETTING_REFUSED` for a name that controls spawned
   *   programs, `AIRLOCK_ERR_HTTP_BAD_REQUEST` naming each problem of the configuration (never a
   *   value).
   */
  async checkChange(name: string, value: string | undefined): Promise<void> {
    if (value !== undefined && !this.settingAllowed(name)) {
      throw new AirlockError(
        'AIRLOCK_ERR_HTTP_SETTING_REFUSED',
        `\`${name}\` controls how the programs the deployment starts run (it could run other code on this host); set it in the server's environment, or start the server with --allow-setting ${name}`,
        { details: { setting: name } },
      );
    }
    const env: Record<string, string | undefined> = { ...(await this.environment()) };
    if (value === undefined) env[name] = this.#options.baseEnv[name];
    else env[name] = value;
    const invalid = (problems: string) =>
      new AirlockError(
        'AIRLOCK_ERR_HTTP_BAD_REQUEST',
        `the change to \`${name}\` would make the configuration invalid: ${problems}`,
        { details: { setting: name } },
      );
    let config: Config;
    try {
      config = loadConfig(env);
    } catch (err) {
      if (err instanceof ConfigError) throw invalid(err.issues.join('; '));
      throw err;
    }
    // Build the chain as the runtime would (clients are created lazily: nothing connects), once
    // the backends are fully described: `AIRFLOW__SECRETS__BACKEND` is set before its kwargs
    // (the Airflow docs' order), and a backend without its kwargs yet cannot be built.
    const described = [ENV.backends, ...ENV.backendKwargs].some(
      (n) => (env[n] ?? '').trim() !== '',
    );
    if (!described) return;
    let resolver: Resolver;
    try {
      resolver = openSecrets(config, {
        purpose: 'server',
        env,
        masker: this.#options.masker,
        metastore: this.#options.metastore,
      }).resolver;
    } catch (err) {
      if (err instanceof ConfigError) throw invalid(err.issues.join('; '));
      if (err instanceof AirlockError) throw invalid(this.#options.masker.redact(err.message));
      throw err;
    }
    await resolver.dispose().catch(() => {});
  }

  /** Disposes the current resolver. */
  async dispose(): Promise<void> {
    const held = await this.#snapshot?.catch(() => undefined);
    this.#snapshot = undefined;
    await held?.resolver?.dispose().catch(() => {});
  }
}
