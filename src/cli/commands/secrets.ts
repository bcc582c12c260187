/**
 * @module cli/commands/secrets
 * `airlock secrets which`: the provenance of a Variable or a Connection, link by link, without
 * the value.
 */
import { Argument, type Command, Option } from 'commander';
import type { SecretKind } from '../../backends/backend.ts';
import { originOf } from '../../config/deployment.ts';
import type { WhichReport } from '../../resolver/resolver.ts';
import { type CliContext, printJson } from '../context.ts';

interface WhichOptions {
  all?: boolean;
  fresh?: boolean;
  output: 'plain' | 'json';
}

/** Renders a which-report as aligned text lines. */
export function formatWhich(report: WhichReport): string {
  const head = `${report.kind} \`${report.id}\`: ${
    report.source === null ? 'no source serves it' : `served by ${report.source}`
  }`;
  const nameWidth = Math.max(...report.trace.map((t) => t.backend.length), 7);
  // `hit (cached)`: the answer the cache holds from an earlier read, not a store call now.
  const outcomeOf = (link: WhichReport['trace'][number]) =>
    link.cache === undefined ? link.outcome : `${link.outcome} (${link.cache})`;
  const outcomeWidth = Math.max(7, ...report.trace.map((t) => outcomeOf(t).length));
  const rows = report.trace.map((link, index) => {
    const time =
      link.outcome === 'skipped' || link.cache !== undefined
        ? ''
        : `${link.durationMs.toFixed(1)} ms`;
    const where = link.location ?? '';
    const why =
      link.outcome === 'error'
        ? `${link.errorCode}: ${link.reason ?? ''}`
        : link.outcome === 'skipped'
          ? `(${link.reason ?? 'skipped'})`
          : link.outcome === 'miss' && link.reason !== undefined
            ? `(${link.reason})`
            : '';
    return `  ${index + 1}. ${link.backend.padEnd(nameWidth)}  ${outcomeOf(link).padEnd(outcomeWidth)}  ${time.padStart(10)}  ${where}${where && why ? '  ' : ''}${why}`.trimEnd();
  });
  return [head, ...rows].join('\n');
}

/** Registers `airlock secrets`. */
export function registerSecretsCommands(program: Command, context: CliContext): void {
  const secrets = program.command('secrets').description('inspect the resolution chain');

  secrets
    .command('which')
    .description(
      'show every link of the chain, in order, with hit / miss / error / skipped and its time (never the value)',
    )
    .addArgument(
      new Argument('<kind>', 'what to look up: variable or connection').choices([
        'variable',
        'connection',
      ]),
    )
    .argument('<name>', 'the Variable key or conn_id')
    .option(
      '-a, --all',
      'also ask the links after the one that serves it (to find shadowed copies)',
    )
    .option('--fresh', 'ask the store even when the cache holds an answer (force fetch)')
    .addOption(
      new Option('-o, --output <format>', 'plain or json')
        .choices(['plain', 'json'])
        .default('plain'),
    )
    .action(async (kind: SecretKind, name: string, options: WhichOptions) => {
      const report = await context.resolver().which(kind, name, {
        all: options.all ?? false,
        forceFetch: options.fresh ?? false,
      });
      const config = context.config();
      const configuredBy = config.secrets.configuredBy;
      const configuredFrom = originOf(configuredBy, context.origins());
      if (options.output === 'json') {
        printJson(context.io, {
          ...report,
          chain_configured_by: configuredBy,
          chain_configured_from: configuredFrom,
        });
      } else {
        const chain =
          configuredBy === null
            ? 'chain: env, metastore (no secrets backend configured)'
            : `chain: ${[...config.secrets.backends.map((b) => b.type), 'env', 'metastore'].join(', ')} (${configuredBy} from the ${configuredFrom === 'deployment setting' ? 'deployment settings' : 'environment'})`;
        context.io.stdout(`${formatWhich(report)}\n${chain}\n`);
      }
    });
}
