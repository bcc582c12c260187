/**
 * @module cli/context
 * What every command shares: the streams, and the configuration, resolver and metastore, loaded
 * on first use so that `--help` and usage errors never read the configuration, and a lookup the
 * environment serves never opens the metastore's database.
 */

import { once } from 'node:events';
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import {
  overlaySettings,
  readDeploymentSettings,
  type SettingOrigin,
} from '../config/deployment.ts';
import { applyProcessSettings } from '../config/process-settings.ts';
import { loadConfigAsync, readConfig } from '../config/read-config.ts';
import { settingApplies } from '../config/runtime-settings.ts';
import type { Config } from '../config/schema.ts';
import { AirlockError } from '../errors.ts';
import { createLogger, type Logger, parseLogLevel } from '../logging/logger.ts';
import { SecretsMasker } from '../masking/masker.ts';
import type { Metastore } from '../metastore/metastore.ts';
import type { OpenIntent } from '../metastore/open.ts';
import { openSecrets } from '../resolver/open.ts';
import type { Resolver } from '../resolver/resolver.ts';

/** The streams and environment of one CLI run. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  isTty: boolean;
  /** Whether stderr is a terminal (progress bars); by default, the process's stderr when `env` is `process.env`. */
  stderrIsTty?: boolean;
}

/** Shared, lazily built state of one CLI run. */
export interface CliContext {
  readonly io: CliIo;
  /**
   * Loads the configuration, and the modules of the configured backends only (the CLI runs it
   * before every command's action); afterwards {@link CliContext.config} is synchronous.
   */
  prepare(): Promise<void>;
  config(): Config;
  /**
   * The deployment's environment: the process's overlaid with the deployment settings the
   * metastore holds (a setting wins; see `config/deployment.ts`). The same as `io.env` before
   * {@link CliContext.prepare} or without settings.
   */
  env(): Readonly<Record<string, string | undefined>>;
  /** Where each name of {@link CliContext.env} came from. */
  origins(): ReadonlyMap<string, SettingOrigin>;
  resolver(): Resolver;
  /** Every secret this run resolved, registered for masking its output and errors. */
  readonly masker: SecretsMasker;
  /** airlock's masking logger (stderr), at `AIRLOCK__LOGGING__LEVEL` (default `warn`). */
  readonly logger: Logger;
  /** Set by a command whose exit code is not 0-on-success (`airlock run`). */
  exitCode: number | undefined;
  /**
   * The metastore, opened once per intent on first use (`read`: `undefined` when no database
   * exists yet; `write`/`migrate` create it and, with no key configured, generate one).
   */
  metastore(intent: OpenIntent): Promise<Metastore | undefined>;
  /**
   * Tells the cache that the metastore changed (`ids` `'*'`: a bulk import), so that processes
   * sharing the cache stop serving the old answer. Without a shared cache this is a no-op: this
   * run's own cache dies with it.
   */
  invalidate(kind: 'variable' | 'connection', ids: readonly string[] | '*'): Promise<void>;
  /** Closes what this run opened: the resolver's backends and the metastore. */
  dispose(): Promise<void>;
}

/** Creates the context of one CLI run. */
export function createCliContext(io: CliIo): CliContext {
  let config: Config | undefined;
  let effective: ReturnType<typeof overlaySettings> | undefined;
  let resolver: Resolver | undefined;
  const stores = new Map<OpenIntent, Promise<Metastore | undefined>>();
  const masker = new SecretsMasker();
  let failed: { error: unknown } | undefined;
  const adopt = (loaded: Config) => {
    config ??= loaded;
    masker.configure({
      sensitiveWords: config.core.sensitiveVarConnNames,
      hideSensitive: config.core.hideSensitiveVarConnFields,
    });
  };
  const level =
    parseLogLevel(io.env.AIRLOCK__LOGGING__LEVEL ?? io.env.AIRFLOW__LOGGING__LOGGING_LEVEL) ??
    'warn';
  const logger = createLogger({ masker, level });
  // The resolver logs every lookup at debug: below that level the call is dropped here, so that
  // a lookup does not load the logging library (~25 ms of a CLI run) just to discard a line.
  const lookupLogger: Logger =
    level === 'debug' || level === 'trace' ? logger : { ...logger, debug() {} };
  return {
    io,
    masker,
    logger,
    exitCode: undefined,
    async prepare() {
      if (config || failed) return;
      try {
        const base = await loadConfigAsync(io.env);
        const read = await readDeploymentSettings(base);
        if (read.unavailable) {
          logger.warn(
            { code: read.unavailable.code },
            `could not read the deployment settings from the metastore (${read.unavailable.message}); using the environment only`,
          );
        }
        if (read.settings.length === 0) {
          adopt(base);
          return;
        }
        const secrets = read.settings.filter((setting) => setting.secret);
        if (secrets.length > 0) {
          const { registerKwargsSecrets } = await import('../masking/deployment.ts');
          for (const setting of secrets) {
            masker.addSecret(setting.value);
            // A secret JSON setting (backend kwargs): each credential inside it on its own too.
            registerKwargsSecrets(masker, setting.value);
          }
        }
        for (const setting of read.settings) {
          if (!settingApplies(setting.name, io.env)) {
            logger.warn(
              { setting: setting.name },
              `the deployment setting ${setting.name} controls how spawned programs run and is not applied (allow it with AIRLOCK__SERVER__ALLOWED_RUNTIME_SETTINGS, or delete it)`,
            );
          }
        }
        effective = overlaySettings(io.env, read.settings);
        // Settings Node reads at start (a CA file for the store's certificate) apply now.
        applyProcessSettings(effective.env, io.env);
        adopt(await loadConfigAsync(effective.env));
      } catch (err) {
        // Reported by the first command that reads the configuration, not by those that never do.
        failed = { error: err };
      }
    },
    config() {
      if (failed) throw failed.error;
      // Without prepare(), only a configuration whose backend modules are loaded can be read
      // (always the case when no external backend is configured).
      if (!config) adopt(readConfig(io.env));
      return config as Config;
    },
    env() {
      return effective?.env ?? io.env;
    },
    origins() {
      if (!effective) effective = overlaySettings(io.env, []);
      return effective.origins;
    },
    resolver() {
      if (!resolver) {
        resolver = openSecrets(this.config(), {
          purpose: 'cli',
          env: this.env(),
          masker,
          logger: lookupLogger,
          // Opened only when a lookup reaches it; this context closes it.
          metastore: () => this.metastore('read'),
          closeMetastore: false,
        }).resolver;
      }
      return resolver;
    },
    metastore(intent) {
      let opening = stores.get(intent);
      if (!opening) {
        const current = this.config();
        opening = import('../metastore/open.ts').then(({ openMetastoreFromConfig }) =>
          openMetastoreFromConfig(current, {
            intent,
            onNotice: (message) => io.stderr(`airlock: ${message}\n`),
          }),
        );
        // A failed open is not remembered: the error is reported once, by the caller.
        opening.catch(() => stores.delete(intent));
        stores.set(intent, opening);
      }
      return opening;
    },
    async invalidate(kind, ids) {
      const cache = this.config().secrets.cache;
      if (!cache.enabled || cache.sharedUrl === null) return;
      const current = this.resolver();
      if (ids === '*') await current.invalidateAll();
      else for (const id of ids) await current.invalidate(kind, id);
    },
    async dispose() {
      const opened = [...stores.values()];
      stores.clear();
      await resolver?.dispose();
      await Promise.allSettled(
        opened.map(async (opening) => (await opening.catch(() => undefined))?.close()),
      );
    },
  };
}

/** Whether the run's stderr is a terminal (for progress bars). */
export function stderrIsTty(io: CliIo): boolean {
  if (io.stderrIsTty !== undefined) return io.stderrIsTty;
  return io.env === process.env && Boolean(process.stderr.isTTY);
}

/**
 * A value given as an argument or with Airflow's flag for it (`users delete -u NAME`,
 * `dags list-runs -d DAG_ID`): one of them, and the same value when both.
 *
 * @throws AirlockError `AIRLOCK_ERR_CLI_USAGE` when neither is given or they differ.
 */
export function argumentOrFlag(
  what: string,
  flag: string,
  positional: string | undefined,
  flagged: string | undefined,
): string {
  if (positional !== undefined && flagged !== undefined && positional !== flagged) {
    throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', `give the ${what} once (argument or ${flag})`);
  }
  const value = flagged ?? positional;
  if (value === undefined) {
    throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', `name the ${what} (${flag})`);
  }
  return value;
}

/**
 * An ISO-8601 date-time argument (a logical date), in ms.
 *
 * @throws AirlockError `AIRLOCK_ERR_CLI_USAGE` when it is not one.
 */
export function parseLogicalDate(value: string): number {
  const ms = /^\d{4}-\d\d-\d\d/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new AirlockError(
      'AIRLOCK_ERR_CLI_USAGE',
      `\`${value}\` is not an ISO-8601 date (2026-01-31 or 2026-01-31T06:00:00Z)`,
    );
  }
  return ms;
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

/** The list formats of `variables list` / `connections list` (Airflow's `-o`). */
export const LIST_FORMATS = ['table', 'json', 'yaml', 'plain'] as const;
/** One of {@link LIST_FORMATS}. */
export type ListFormat = (typeof LIST_FORMATS)[number];

/** A cell as text: `null` empty, strings with control characters JSON-escaped, others JSON. */
function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are the point.
    return /[\u0000-\u001f\u007f]/.test(value) ? JSON.stringify(value) : value;
  }
  return JSON.stringify(value);
}

/**
 * Prints rows as Airflow's `-o` formats do: `table` (a header, a rule, aligned columns),
 * `plain` (aligned columns under a header, no rule), `json` (a list of objects) or `yaml`.
 *
 * @example
 * ```ts
 * await printRows(io, [{ key: 'a', value: '***' }], 'table');
 * ```
 */
export async function printRows(
  io: CliIo,
  rows: readonly Record<string, unknown>[],
  format: ListFormat,
  columns: readonly string[] = Object.keys(rows[0] ?? {}),
): Promise<void> {
  if (format === 'json') {
    printJson(io, rows);
    return;
  }
  if (format === 'yaml') {
    // The YAML writer is loaded only for YAML output.
    const { stringify } = await import('yaml');
    io.stdout(rows.length === 0 ? '[]\n' : stringify(rows));
    return;
  }
  if (rows.length === 0) {
    io.stdout(format === 'table' ? 'No data found\n' : '');
    return;
  }
  const cells = rows.map((row) => columns.map((column) => cellText(row[column])));
  const widths = columns.map((column, i) =>
    Math.max(column.length, ...cells.map((line) => (line[i] ?? '').length)),
  );
  const line = (values: readonly string[], sep: string) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join(sep)
      .trimEnd();
  const sep = format === 'table' ? ' | ' : '  ';
  const out = [line(columns, sep)];
  if (format === 'table') out.push(widths.map((w) => '-'.repeat(w)).join('-+-'));
  for (const values of cells) out.push(line(values, sep));
  io.stdout(`${out.join('\n')}\n`);
}

/** The cell a list shows for a row that cannot be decrypted (never the ciphertext). */
export function unreadableCell(code: string): string {
  return `<unreadable: ${code}>`;
}

/**
 * Tells on stderr which listed rows cannot be decrypted (names only): the list itself still
 * shows every other row, and these with {@link unreadableCell}.
 */
export function warnUnreadable(io: CliIo, names: readonly string[]): void {
  if (names.length === 0) return;
  io.stderr(
    `airlock: warning: ${names.length} ${names.length === 1 ? 'row' : 'rows'} cannot be decrypted with the configured Fernet keys: ${names.join(', ')}\n`,
  );
}

/** A progress bar on stderr (only when it is a terminal); `done()` clears it. */
export interface Progress {
  update(count: number, bytes?: number): void;
  done(): void;
}

/**
 * A progress bar for a long import: `[#####-----]  45%  45000 variables`, redrawn at most ten
 * times a second, on stderr, and only when stderr is a terminal.
 *
 * @example
 * ```ts
 * const progress = createProgress(io, 'variables', statSync(path).size);
 * ```
 */
export function createProgress(io: CliIo, noun: string, totalBytes: number): Progress {
  if (!stderrIsTty(io)) return { update() {}, done() {} };
  let last = 0;
  let count = 0;
  let bytes = 0;
  let drawn = false;
  const draw = () => {
    const width = 30;
    const ratio = totalBytes > 0 ? Math.min(1, bytes / totalBytes) : 0;
    const bar =
      totalBytes > 0
        ? `[${'#'.repeat(Math.round(ratio * width)).padEnd(width, '-')}] ${String(Math.floor(ratio * 100)).padStart(3)}%  `
        : '';
    io.stderr(`\r\u001b[K${bar}${count} ${noun}`);
    drawn = true;
  };
  return {
    update(n, b) {
      count = n;
      if (b !== undefined) bytes = b;
      const now = Date.now();
      if (now - last >= 100) {
        last = now;
        draw();
      }
    },
    done() {
      if (drawn) io.stderr('\r\u001b[K');
    },
  };
}

/**
 * Gathers small writes (one per exported row) into chunks of about `size` characters before
 * passing them on; `flush()` passes on the rest.
 *
 * @example
 * ```ts
 * const sink = bufferedSink((text) => out.write(text));
 * await sink.write('…');
 * await sink.flush();
 * ```
 */
export function bufferedSink(
  write: (text: string) => Promise<void>,
  size = 64 * 1024,
): { write(text: string): Promise<void>; flush(): Promise<void> } {
  let parts: string[] = [];
  let length = 0;
  const flush = async () => {
    if (length === 0) return;
    const chunk = parts.join('');
    parts = [];
    length = 0;
    await write(chunk);
  };
  return {
    async write(text) {
      parts.push(text);
      length += text.length;
      if (length >= size) await flush();
    },
    flush,
  };
}

/**
 * Waits for `event` or an error of `stream`, then removes both listeners (a long export waits
 * for `drain` thousands of times; listeners left behind would pile up).
 */
async function settled(stream: NodeJS.EventEmitter, event: string): Promise<void> {
  const done = new AbortController();
  try {
    await Promise.race([
      once(stream, event, { signal: done.signal }),
      once(stream, 'error', { signal: done.signal }),
    ]);
  } catch {
    // The error is kept by the stream's own 'error' listener and reported by the caller.
  } finally {
    done.abort();
  }
}

/** Where an export writes: standard output (`-`) or a file, replaced only when complete. */
export interface ExportOutput {
  readonly toStdout: boolean;
  write(text: string): Promise<void>;
  /** Finishes the file (renames it into place). */
  commit(): Promise<void>;
  /** Drops a partial file. */
  abort(): Promise<void>;
}

/**
 * Opens an export's output. A file is written under a temporary name with mode 0600 (an export
 * holds secrets in clear) and renamed into place when complete, so a failure halfway never leaves
 * a truncated export behind.
 *
 * @example
 * ```ts
 * const out = openExportOutput(io, 'variables.json');
 * ```
 */
export function openExportOutput(io: CliIo, path: string): ExportOutput {
  if (path === '-') {
    return {
      toStdout: true,
      async write(text) {
        io.stdout(text);
      },
      async commit() {},
      async abort() {},
    };
  }
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const stream = createWriteStream(temp, { mode: 0o600, flags: 'wx' });
  let failure: Error | undefined;
  stream.on('error', (err) => {
    failure = err;
  });
  const check = () => {
    if (failure) {
      const code = (failure as NodeJS.ErrnoException).code ?? 'EIO';
      throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', `cannot write \`${path}\` (${code})`, {
        details: { path, errno: code },
      });
    }
  };
  return {
    toStdout: false,
    async write(text) {
      check();
      if (!stream.write(text)) await settled(stream, 'drain');
      check();
    },
    async commit() {
      check();
      stream.end();
      await settled(stream, 'finish');
      check();
      renameSync(temp, path);
    },
    async abort() {
      stream.destroy();
      rmSync(temp, { force: true });
    },
  };
}

/**
 * Runs a command's body and then releases what the context opened (the metastore, the
 * resolver's clients), also when the body throws.
 */
export async function closing<T>(context: CliContext, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } finally {
    await context.dispose();
  }
}

/**
 * Standard input as text, without its final line break: for a secret given as `-` (or a
 * `--…-stdin` option), so that it stays out of the shell history.
 */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Resolves at the first SIGINT or SIGTERM (for long-running commands), with the signal. */
export function untilStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
