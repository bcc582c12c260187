/**
 * @module cli/commands/run
 * `airlock run [--var KEY[=NAME]]… [--conn ID[=PREFIX]]… [--all-from PREFIX]… -- <command>`:
 * resolves what is asked through the chain, starts the command with the values in its
 * environment, masks every injected value in its output, forwards signals and exits with the
 * command's exit code — like `op run` or `chamber exec`, with Airflow's names and provenance.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { Command } from 'commander';
import { AirlockError } from '../../errors.ts';
import { createMaskingStream } from '../../masking/stream.ts';
import { getConnection } from '../../model/connection-lookup.ts';
import { getVariable } from '../../model/variable.ts';
import type { CliContext } from '../context.ts';

interface RunOptions {
  var: string[];
  conn: string[];
  connFields?: boolean;
  allFrom: string[];
  mask: boolean;
  env?: boolean;
}

/** Signals passed on to the child, as a terminal or a supervisor would send them. */
const FORWARDED: readonly NodeJS.Signals[] = [
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
  'SIGWINCH',
];

const collect = (value: string, previous: string[]) => [...previous, value];

/** The env name a Variable gets by default: Airflow's, so an Airflow child finds it too. */
function variableEnvName(key: string): string {
  return `AIRFLOW_VAR_${key.toUpperCase()}`;
}

function splitSpec(spec: string): [string, string | undefined] {
  const eq = spec.indexOf('=');
  return eq === -1 ? [spec, undefined] : [spec.slice(0, eq), spec.slice(eq + 1)];
}

function checkEnvName(name: string, flag: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new AirlockError(
      'AIRLOCK_ERR_CLI_USAGE',
      `${flag}: \`${name}\` is not a valid environment variable name`,
    );
  }
  return name;
}

/** Resolves everything asked for and returns the child's extra environment and its sources. */
async function resolveEnvironment(
  context: CliContext,
  options: RunOptions,
): Promise<Map<string, { value: string; what: string }>> {
  const resolver = context.resolver();
  const out = new Map<string, { value: string; what: string }>();
  const put = (name: string, value: string, what: string) => {
    const previous = out.get(name);
    if (previous && previous.what !== what) {
      throw new AirlockError(
        'AIRLOCK_ERR_CLI_USAGE',
        `both ${previous.what} and ${what} would set \`${name}\``,
      );
    }
    out.set(name, { value, what });
  };

  const variableSpecs: [string, string][] = options.var.map((spec) => {
    const [key, name] = splitSpec(spec);
    if (key === '') throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', '--var needs a key');
    return [key, checkEnvName(name ?? variableEnvName(key), '--var')];
  });
  for (const prefix of options.allFrom) {
    const { keys } = await resolver.listVariableKeys(prefix);
    for (const key of keys)
      variableSpecs.push([key, checkEnvName(variableEnvName(key), '--all-from')]);
  }

  const variables = await Promise.all(
    variableSpecs.map(
      async ([key, name]) => [key, name, await getVariable(resolver, key)] as const,
    ),
  );
  for (const [key, name, value] of variables) put(name, String(value), `variable \`${key}\``);

  const connections = await Promise.all(
    options.conn.map(async (spec) => {
      const [connId, prefix] = splitSpec(spec);
      if (connId === '') throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', '--conn needs a conn_id');
      const { value } = await getConnection(resolver, connId);
      return { connId, prefix: prefix ?? connId.toUpperCase(), conn: value };
    }),
  );
  for (const { connId, prefix, conn } of connections) {
    const what = `connection \`${connId}\``;
    put(checkEnvName(`AIRFLOW_CONN_${connId.toUpperCase()}`, '--conn'), conn.getUri(), what);
    if (!options.connFields) continue;
    const fields: [string, string | number | null][] = [
      ['CONN_TYPE', conn.connType],
      ['HOST', conn.host],
      ['PORT', conn.port],
      ['LOGIN', conn.login],
      ['PASSWORD', conn.password],
      ['SCHEMA', conn.schema],
      ['EXTRA', conn.extra],
    ];
    for (const [field, value] of fields) {
      if (value === null || value === '') continue;
      put(checkEnvName(`${prefix}_${field}`, '--conn'), String(value), what);
    }
  }
  return out;
}

function pipeMasked(
  from: Readable,
  to: Writable,
  context: CliContext,
  mask: boolean,
): Promise<void> {
  return new Promise((resolve) => {
    const source = mask ? from.pipe(createMaskingStream(context.masker)) : from;
    source.on('data', (chunk: Buffer) => {
      // Respect back-pressure of the terminal or pipe we write to.
      if (!to.write(chunk)) {
        source.pause();
        to.once('drain', () => source.resume());
      }
    });
    source.on('end', resolve);
    source.on('error', resolve);
  });
}

/** Registers `airlock run`. */
export function registerRunCommand(program: Command, context: CliContext): void {
  program
    .command('run')
    .description(
      'run a command with Variables and Connections in its environment, its output masked',
    )
    .usage('[options] -- <command> [args...]')
    .option(
      '--var <key[=NAME]>',
      'export a Variable as NAME (default AIRFLOW_VAR_<KEY>); repeatable',
      collect,
      [],
    )
    .option(
      '--conn <conn_id[=PREFIX]>',
      'export a Connection as AIRFLOW_CONN_<CONN_ID> (its URI); repeatable',
      collect,
      [],
    )
    .option(
      '--conn-fields',
      "also export each connection's fields as <PREFIX>_HOST, _PORT, _LOGIN, _PASSWORD, _SCHEMA, _CONN_TYPE, _EXTRA (PREFIX defaults to the upper-cased conn_id)",
    )
    .option(
      '--all-from <prefix>',
      'export every Variable whose key starts with prefix, from the links that can list; repeatable',
      collect,
      [],
    )
    .option('--no-mask', "do not mask the injected values in the command's output")
    .option('--env', 'print the names (never the values) that would be exported, and exit')
    .argument('<command...>', 'the command and its arguments (after --)')
    .passThroughOptions()
    .action(async (commandLine: string[], options: RunOptions) => {
      // Resolving registers what Airflow's rules call secret with the masker: passwords,
      // sensitive-named values, and every value an external backend serves.
      const injected = await resolveEnvironment(context, options);
      if (options.env) {
        for (const [name, { what }] of injected) context.io.stdout(`${name}\t${what}\n`);
        return;
      }
      const [command, ...args] = commandLine as [string, ...string[]];
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(context.io.env)) if (v !== undefined) env[k] = v;
      for (const [name, { value }] of injected) env[name] = value;

      const child = spawn(command, args, { env, stdio: ['inherit', 'pipe', 'pipe'] });
      const forward = (signal: NodeJS.Signals) => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      };
      const handlers = FORWARDED.map((signal) => {
        const handler = () => forward(signal);
        process.on(signal, handler);
        return [signal, handler] as const;
      });
      try {
        const spawned = new Promise<void>((resolve, reject) => {
          child.once('spawn', resolve);
          child.once('error', reject);
        });
        try {
          await spawned;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw new AirlockError(
            'AIRLOCK_ERR_CLI_COMMAND_FAILED',
            `cannot run \`${command}\`: ${code === 'ENOENT' ? 'command not found' : code === 'EACCES' ? 'permission denied' : (code ?? 'spawn failed')}`,
            { details: { exitCode: code === 'ENOENT' ? 127 : 126 } },
          );
        }
        const exited = new Promise<number>((resolve) => {
          child.once('exit', (code, signal) => {
            resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
          });
        });
        await Promise.all([
          pipeMasked(child.stdout, process.stdout, context, options.mask),
          pipeMasked(child.stderr, process.stderr, context, options.mask),
        ]);
        context.exitCode = await exited;
      } finally {
        for (const [signal, handler] of handlers) process.off(signal, handler);
      }
    });
}
