/**
 * @module cli/commands/config
 * `airlock config show`: the effective configuration, credentials redacted.
 */
import { type Command, Option } from 'commander';
import { originOf, type SettingOrigin } from '../../config/deployment.ts';
import { type Config, ENV } from '../../config/schema.ts';
import { isSensitiveName } from '../../masking/sensitive-keys.ts';
import { redactDatabaseUrl } from '../../metastore/database-url.ts';
import { type CliContext, printJson } from '../context.ts';

/** `scheme://user:password@host` → `scheme://user:***@host`, for URLs in kwargs. */
function redactUrlPassword(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#:@]*):[^/?#@]*@/i, '$1:***@');
}

function redactKwargs(value: unknown, extraWords: readonly string[], sensitive = false): unknown {
  if (value === null || value === undefined) return value;
  if (typeof value === 'string') return sensitive ? '***' : redactUrlPassword(value);
  if (typeof value !== 'object') return sensitive ? '***' : value;
  if (Array.isArray(value)) return value.map((v) => redactKwargs(v, extraWords, sensitive));
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      redactKwargs(v, extraWords, sensitive || isSensitiveName(k, extraWords)),
    ]),
  );
}

/** Every configuration name airlock reads. */
const CONFIG_NAMES: readonly string[] = Object.values(ENV).flat();

/**
 * The configuration as `config show` prints it: snake_case, the chain spelled out, every
 * sensitive kwarg (`token`, `secret_id`, `password`, …) and URL password replaced by `***`, and
 * where each configuration name that is set came from (`environment` or `deployment setting`),
 * never its value.
 */
export function describeConfig(
  config: Config,
  origins: ReadonlyMap<string, SettingOrigin> = new Map(),
): Record<string, unknown> {
  const words = config.core.sensitiveVarConnNames;
  const sources: Record<string, SettingOrigin> = {};
  for (const name of CONFIG_NAMES) {
    const origin = origins.get(name);
    if (origin !== undefined) sources[name] = origin;
  }
  return {
    home: config.home,
    chain: [...config.secrets.backends.map((b) => b.type), 'env', 'metastore'],
    database: {
      url: redactDatabaseUrl(config.database.url),
      configured_by: config.database.configuredBy,
      configured_from: originOf(config.database.configuredBy, origins),
    },
    secrets: {
      configured_by: config.secrets.configuredBy,
      configured_from: originOf(config.secrets.configuredBy, origins),
      fallthrough_on_error: config.secrets.fallthroughOnError,
      lookup_timeout_seconds: config.secrets.lookupTimeoutSeconds,
      backends: config.secrets.backends.map((b) => ({
        type: b.type,
        kwargs: redactKwargs(b.kwargs, words),
      })),
    },
    core: {
      sensitive_var_conn_names: config.core.sensitiveVarConnNames,
      hide_sensitive_var_conn_fields: config.core.hideSensitiveVarConnFields,
    },
    sources,
  };
}

function flatten(value: unknown, prefix: string, out: string[]): void {
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value)
      ? value.map((v, i) => [`${prefix}[${i}]`, v] as const)
      : Object.entries(value).map(([k, v]) => [prefix ? `${prefix}.${k}` : k, v] as const);
    if (entries.length === 0) out.push(`${prefix} = ${Array.isArray(value) ? '[]' : '{}'}`);
    for (const [key, inner] of entries) flatten(inner, key, out);
    return;
  }
  out.push(`${prefix} = ${value === undefined ? '' : JSON.stringify(value)}`);
}

/** Registers `airlock config`. */
export function registerConfigCommands(program: Command, context: CliContext): void {
  const config = program.command('config').description('inspect the configuration');
  config
    .command('show')
    .description('print the effective configuration, with credentials redacted')
    .addOption(
      new Option('-o, --output <format>', 'plain: key = value lines; json')
        .choices(['plain', 'json'])
        .default('plain'),
    )
    .action((options: { output: 'plain' | 'json' }) => {
      const described = describeConfig(context.config(), context.origins());
      if (options.output === 'json') {
        printJson(context.io, described);
        return;
      }
      const lines: string[] = [];
      flatten(described, '', lines);
      context.io.stdout(`${lines.join('\n')}\n`);
    });
}
