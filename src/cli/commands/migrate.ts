/**
 * @module cli/commands/migrate
 * `airlock migrate --from SOURCE --to TARGET [--kinds variables,connections] [--dry-run]
 * [--overwrite|--skip-existing] [--only PATTERN]`: copies Variables and Connections between any
 * two ends (a configured store, the metastore, the environment or an Airflow export file as a
 * source), at the names the
 * target's Airflow reader reads. Idempotent (an unchanged key is not written), verified (what was
 * written is read back), never printing a value. Exit code 1 when any key failed.
 */
import type { Command } from 'commander';
import type { SecretKind } from '../../backends/backend.ts';
import { AirlockError } from '../../errors.ts';
import type { Metastore } from '../../metastore/metastore.ts';
import { type CliContext, closing, createProgress } from '../context.ts';
import {
  backendEnd,
  environmentEnd,
  fileEnd,
  type KindReport,
  keyPattern,
  type MigrationEnd,
  metastoreEnd,
  migrateKind,
} from './_migrate.ts';
import { writableBackend } from './secrets-write.ts';

interface MigrateCliOptions {
  from: string;
  to: string;
  kinds: string;
  dryRun?: boolean;
  overwrite?: boolean;
  skipExisting?: boolean;
  only?: string;
}

function usage(message: string): AirlockError {
  return new AirlockError('AIRLOCK_ERR_CLI_USAGE', message);
}

/** `variables,connections` → the kinds, in that order. */
function parseKinds(text: string): SecretKind[] {
  const kinds: SecretKind[] = [];
  for (const word of text.split(',').map((w) => w.trim())) {
    if (word === 'variables' || word === 'variable') kinds.push('variable');
    else if (word === 'connections' || word === 'connection') kinds.push('connection');
    else throw usage(`--kinds takes variables and/or connections, not \`${word}\``);
  }
  return [...new Set(kinds)];
}

async function openEnd(
  context: CliContext,
  name: string,
  role: 'source' | 'target',
  kinds: readonly SecretKind[],
): Promise<MigrationEnd> {
  if (name.startsWith('file:')) {
    if (role === 'target') throw usage('an export file can only be a migration source');
    if (kinds.length !== 1) {
      throw usage('an export file holds one kind: give --kinds variables or --kinds connections');
    }
    return fileEnd(name.slice('file:'.length), kinds[0] as SecretKind);
  }
  if (name === 'metastore') {
    const store = await context.metastore(role === 'target' ? 'write' : 'read');
    if (!store) throw usage('no metastore is configured (set AIRLOCK__DATABASE__URL)');
    return metastoreEnd(store as Metastore);
  }
  if (name === 'env') {
    if (role === 'target') {
      throw new AirlockError(
        'AIRLOCK_ERR_BACKEND_READ_ONLY',
        'the environment can only be a migration source',
      );
    }
    const env = context.resolver().backends.find((b) => b.name === 'env');
    if (!env) throw usage('the environment is not in the chain');
    return environmentEnd(env);
  }
  if (role === 'target') return backendEnd(writableBackend(context, name));
  const backend = context.resolver().backends.find((b) => b.name === name);
  if (!backend)
    throw usage(`no backend \`${name}\` is configured (airlock config show lists them)`);
  return backendEnd(backend);
}

const VERBS: Record<string, string> = {
  created: 'create',
  updated: 'update',
  unchanged: 'leave unchanged',
  skipped: 'skip (exists, differs; --overwrite replaces it)',
};

function summary(report: KindReport): string {
  const count = (action: string) => [...report.actions.values()].filter((a) => a === action).length;
  return `${report.kind}s: ${count('created')} created, ${count('updated')} updated, ${count('unchanged')} unchanged, ${count('skipped')} skipped, ${count('failed')} failed`;
}

/** Registers `airlock migrate`. */
export function registerMigrateCommand(program: Command, context: CliContext): void {
  program
    .command('migrate')
    .description(
      'copy Variables and Connections from one end to another (a configured store, metastore, env as a source), idempotent and verified, never printing a value',
    )
    .requiredOption(
      '--from <source>',
      'vault, aws-secrets-manager, aws-ssm, gcp-secret-manager, azure-key-vault, metastore, env, or file:PATH (an Airflow export file, with one --kinds)',
    )
    .requiredOption('--to <target>', 'a configured store or metastore')
    .option(
      '--kinds <kinds>',
      'variables, connections, or both (comma-separated)',
      'variables,connections',
    )
    .option('--dry-run', 'list each name and what would happen to it; write nothing')
    .option('--overwrite', 'replace a key the target holds with another value')
    .option('--skip-existing', 'leave a key the target holds with another value (the default)')
    .option('--only <pattern>', 'only the keys matching this glob (* and ?)')
    .action((options: MigrateCliOptions) =>
      closing(context, async () => {
        if (options.overwrite && options.skipExisting) {
          throw usage('give --overwrite or --skip-existing, not both');
        }
        if (options.from === options.to) throw usage('--from and --to name the same end');
        const kinds = parseKinds(options.kinds);
        const from = await openEnd(context, options.from, 'source', kinds);
        const to = await openEnd(context, options.to, 'target', kinds);
        const io = context.io;
        let failed = 0;
        for (const kind of kinds) {
          const progress = createProgress(io, `${kind}s written`, 1);
          const report = await migrateKind(kind, from, to, {
            dryRun: options.dryRun === true,
            overwrite: options.overwrite === true,
            only: keyPattern(options.only),
            onProgress: (written, total) => progress.update(written, written / total),
          });
          progress.done();
          if (options.dryRun) {
            for (const [id, action] of report.actions) {
              io.stdout(`would ${VERBS[action] ?? action} ${kind} \`${id}\`\n`);
            }
          }
          for (const [id, err] of report.failures) {
            io.stderr(`airlock: ${kind} \`${id}\` failed: ${err.code}: ${err.message}\n`);
          }
          failed += report.failures.size;
          io.stdout(
            `${options.dryRun ? '(dry run) ' : ''}${summary(report)} (${from.label} → ${to.label})\n`,
          );
        }
        if (failed > 0) context.exitCode = 1;
      }),
    );
}
