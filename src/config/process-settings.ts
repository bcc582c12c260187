/**
 * @module config/process-settings
 * Deployment settings that Node reads only when a process starts. A task process gets them in its
 * environment and Node applies them at its start; a process that is already running (the server,
 * a worker, a CLI command that read the settings from the metastore) applies them here where Node
 * allows it, and {@link restartRequired} names the ones it cannot.
 *
 * - `NODE_EXTRA_CA_CERTS`: the certificates in the file are added to this process's default CA
 *   list (`tls.setDefaultCACertificates`, Node ≥ 22.15 / 23.5), which every later TLS connection
 *   without its own `ca` uses: `fetch`, the cloud SDKs, `pg`.
 */
import { readFileSync } from 'node:fs';
import { AirlockError } from '../errors.ts';

type Env = Readonly<Record<string, string | undefined>>;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The default CA list this process started with (bundled, system, its own extra file). */
let startupDefaults: string[] | undefined;
/** The extra CA file applied last, to apply a changed setting once. */
let appliedExtraCaFile: string | undefined;

/**
 * Applies to this running process what `env` sets and `startEnv` (the environment the process
 * started with) did not: today `NODE_EXTRA_CA_CERTS`. Idempotent; a setting removed again drops
 * its certificates.
 *
 * @throws AirlockError `AIRLOCK_ERR_CONFIG_INVALID` when the CA file cannot be read or holds no
 *   PEM certificate (the message names the file, never its content).
 * @example
 * ```ts
 * applyProcessSettings(deploymentEnv, process.env);
 * ```
 */
export function applyProcessSettings(env: Env, startEnv: Env = process.env): void {
  const wanted = env.NODE_EXTRA_CA_CERTS || undefined;
  const atStart = startEnv.NODE_EXTRA_CA_CERTS || undefined;
  const target = wanted === atStart ? undefined : wanted;
  if (target === appliedExtraCaFile) return;
  // Loaded here, not at the top: a command with no CA setting to apply (most) never loads TLS.
  const tls = process.getBuiltinModule('node:tls');
  startupDefaults ??= tls.getCACertificates('default');
  if (target === undefined) {
    tls.setDefaultCACertificates(startupDefaults);
    appliedExtraCaFile = undefined;
    return;
  }
  let text: string;
  try {
    text = readFileSync(target, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new AirlockError(
      'AIRLOCK_ERR_CONFIG_INVALID',
      `NODE_EXTRA_CA_CERTS: cannot read the CA file \`${target}\` (${code})`,
      { details: { path: target, errno: code } },
    );
  }
  const certificates = text.match(PEM_CERTIFICATE) ?? [];
  if (certificates.length === 0) {
    throw new AirlockError(
      'AIRLOCK_ERR_CONFIG_INVALID',
      `NODE_EXTRA_CA_CERTS: \`${target}\` holds no PEM certificate`,
      { details: { path: target } },
    );
  }
  tls.setDefaultCACertificates([...startupDefaults, ...certificates]);
  appliedExtraCaFile = target;
}

/** Variables a running process cannot take on: they apply to processes started afterwards. */
const AT_START_ONLY: readonly RegExp[] = [
  /^NODE_(?!EXTRA_CA_CERTS$)/,
  /^UV_/,
  /^TZ$/,
  /^(LANG|LANGUAGE|LC_[A-Z]+)$/,
  /^(HTTPS?|NO|ALL)_PROXY$/i,
  /^SSL_CERT_(FILE|DIR)$/,
  /^OPENSSL_/,
];

/**
 * Whether a change to the setting `name` reaches running airlock processes only after a restart
 * (it still applies to every task process started after the change).
 *
 * @example
 * ```ts
 * restartRequired('NODE_EXTRA_CA_CERTS'); // false: applied at once
 * restartRequired('TZ');                  // true
 * ```
 */
export function restartRequired(name: string): boolean {
  return AT_START_ONLY.some((pattern) => pattern.test(name));
}
