/**
 * @module logging/logger
 * airlock's own logger: pino, writing JSON lines to stderr, with every message, argument and
 * field passed through the secrets masker before it is serialised. pino is loaded on the first
 * log call, so a command that logs nothing does not pay for it.
 */
import { createRequire } from 'node:module';
import type { Logger as PinoLogger } from 'pino';
import type { SecretsMasker } from '../masking/masker.ts';

/** Log levels, as pino (and Airflow's `logging_level`, lower-cased) name them. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The small logger interface airlock's modules use. */
export interface Logger {
  error(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  debug(fields: Record<string, unknown>, message: string): void;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** @default 'warn' */
  level?: LogLevel;
  /** Every line passes through it. */
  masker: SecretsMasker;
  /** Where lines go. @default process.stderr (fd 2) */
  destination?: { write(line: string): unknown };
}

/** Airflow's level names (`INFO`, `WARNING`, `CRITICAL`) mapped to pino's. */
export function parseLogLevel(value: string | undefined): LogLevel | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const v = value.trim().toLowerCase();
  const mapped = v === 'warning' ? 'warn' : v === 'critical' ? 'fatal' : v;
  return (LOG_LEVELS as readonly string[]).includes(mapped) ? (mapped as LogLevel) : undefined;
}

/**
 * Creates a masking logger.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: 'info', masker });
 * log.warn({ backend: 'vault' }, 'vault failed; trying the next link');
 * ```
 */
export function createLogger(options: LoggerOptions): Logger {
  const { masker } = options;
  let pino: PinoLogger | undefined;
  const instance = (): PinoLogger => {
    if (!pino) {
      const require = createRequire(import.meta.url);
      const create = require('pino') as typeof import('pino').default;
      pino = create(
        {
          level: options.level ?? 'warn',
          base: { name: 'airlock' },
          formatters: { level: (label) => ({ level: label }) },
          hooks: {
            // Everything a call passes (fields, message, format arguments) is masked first.
            logMethod(args, method) {
              const masked = args.map((arg) =>
                typeof arg === 'string' ? masker.redact(arg) : masker.redactValue(arg),
              );
              method.apply(this, masked as Parameters<typeof method>);
            },
          },
        },
        options.destination ?? create.destination({ fd: 2, sync: true }),
      );
    }
    return pino;
  };
  return {
    error: (fields, message) => instance().error(fields, message),
    warn: (fields, message) => instance().warn(fields, message),
    info: (fields, message) => instance().info(fields, message),
    debug: (fields, message) => instance().debug(fields, message),
  };
}
