/**
 * @module cli/context
 * What every command shares: the streams, and the configuration and resolver, loaded on first
 * use so that `--help` and usage errors never read the configuration.
 */

import { loadConfig } from '../config/load-config.ts';
import type { Config } from '../config/schema.ts';
import { AirlockError } from '../errors.ts';
import { createLogger, type Logger, parseLogLevel } from '../logging/logger.ts';
import { SecretsMasker } from '../masking/masker.ts';
import { createResolverFromConfig } from '../resolver/chain.ts';
import type { Resolver } from '../resolver/resolver.ts';

/** The streams and environment of one CLI run. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  isTty: boolean;
}

/** Shared, lazily built state of one CLI run. */
export interface CliContext {
  readonly io: CliIo;
  config(): Config;
  resolver(): Resolver;
  /** Every secret this run resolved, registered for masking its output and errors. */
  readonly masker: SecretsMasker;
  /** airlock's masking logger (stderr), at `AIRLOCK__LOGGING__LEVEL` (default `warn`). */
  readonly logger: Logger;
  /** Set by a command whose exit code is not 0-on-success (`airlock run`). */
  exitCode: number | undefined;
}

/** Creates the context of one CLI run. */
export function createCliContext(io: CliIo): CliContext {
  let config: Config | undefined;
  let resolver: Resolver | undefined;
  const masker = new SecretsMasker();
  const logger = createLogger({
    masker,
    level:
      parseLogLevel(io.env.AIRLOCK__LOGGING__LEVEL ?? io.env.AIRFLOW__LOGGING__LOGGING_LEVEL) ??
      'warn',
  });
  return {
    io,
    masker,
    logger,
    exitCode: undefined,
    config() {
      if (!config) {
        config = loadConfig(io.env);
        masker.configure({
          sensitiveWords: config.core.sensitiveVarConnNames,
          hideSensitive: config.core.hideSensitiveVarConnFields,
        });
      }
      return config;
    },
    resolver() {
      resolver ??= createResolverFromConfig(this.config(), { env: io.env, masker, logger });
      return resolver;
    },
  };
}

/** Checks an `--output` value against the formats a command supports. */
export function parseOutput<const T extends readonly string[]>(
  value: string,
  allowed: T,
): T[number] {
  if ((allowed as readonly string[]).includes(value)) return value as T[number];
  throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', `--output must be one of ${allowed.join(', ')}`);
}

/** Prints `value` as pretty JSON followed by a newline. */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}
