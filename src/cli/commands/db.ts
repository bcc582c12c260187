/**
 * @module cli/commands/db
 * `airlock db migrate`, `airlock db check`, `airlock db check-migrations` and
 * `airlock rotate-fernet-key`: the metastore's database, schema and keys, as `airflow db migrate` /
 * `airflow db check` (the database can be reached, with `--retry`/`--retry-delay`) /
 * `airflow db check-migrations` / `airflow rotate-fernet-key`.
 */
import { setTimeout } from 'node:timers/promises';
import { type Command, Option } from 'commander';
import { AirlockError } from '../../errors.ts';
import { redactDatabaseUrl } from '../../metastore/database-url.ts';
import type { Metastore } from '../../metastore/metastore.ts';
import { type CliContext, closing, printJson } from '../context.ts';

/** A whole number option, or a usage error. */
function wholeNumber(flag: string, value: string): number {
  if (!/^\d{1,6}$/.test(value)) {
    throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', `${flag} must be a whole number`);
  }
  return Number(value);
}

/** Registers `airlock db …` and `airlock rotate-fernet-key`. */
export function registerDbCommands(program: Command, context: CliContext): void {
  const db = program
    .command('db')
    .description("the metastore's database: create or upgrade its schema, check its version");

  db.command('migrate')
    .description(
      'create or upgrade the metastore schema (and, with no Fernet key configured, generate one into $AIRLOCK_HOME/fernet.key)',
    )
    .action(() =>
      closing(context, async () => {
        const store = (await context.metastore('migrate')) as Metastore;
        const status = await store.schemaStatus();
        for (const name of store.migrated) context.io.stdout(`Applied migration ${name}\n`);
        context.io.stdout(
          `${store.migrated.length === 0 ? 'The metastore schema is current' : 'The metastore schema is now current'}: version ${status.version} (${store.url})\n`,
        );
      }),
    );

  db.command('check')
    .description(
      'check that the metastore database can be reached (a SQLite file not created yet counts)',
    )
    .option('--retry <n>', 'retry this many times when it cannot be reached', '0')
    .option('--retry-delay <seconds>', 'wait this long between retries', '1')
    .action((options: { retry: string; retryDelay: string }) =>
      closing(context, async () => {
        const retries = wholeNumber('--retry', options.retry);
        const delaySeconds = wholeNumber('--retry-delay', options.retryDelay);
        const url = redactDatabaseUrl(context.config().database.url);
        const { openMetastoreFromConfig } = await import('../../metastore/open.ts');
        const { sql } = await import('kysely');
        for (let attempt = 0; ; attempt++) {
          try {
            const store = await openMetastoreFromConfig(context.config(), { intent: 'check' });
            try {
              if (store) await sql`select 1`.execute(store.kysely);
            } finally {
              await store?.close();
            }
            context.io.stdout(`Connection successful: ${url}\n`);
            return;
          } catch (err) {
            if (attempt >= retries) {
              const code = err instanceof AirlockError ? err.code : 'unreachable';
              throw new AirlockError(
                'AIRLOCK_ERR_STORE_UNAVAILABLE',
                `cannot reach the metastore database ${url} (${code}) after ${attempt + 1} attempt${attempt === 0 ? '' : 's'}`,
              );
            }
            context.logger.warn(
              { attempt: attempt + 1 },
              `cannot reach the metastore database; retrying in ${delaySeconds} s`,
            );
            await setTimeout(delaySeconds * 1000);
          }
        }
      }),
    );

  db.command('check-migrations')
    .description(
      'print the metastore schema version and whether it is current (exit 1 when it is not)',
    )
    .addOption(
      new Option('-o, --output <format>', 'plain or json')
        .choices(['plain', 'json'])
        .default('plain'),
    )
    .action((options: { output: 'plain' | 'json' }) =>
      closing(context, async () => {
        const url = redactDatabaseUrl(context.config().database.url);
        const store = await context.metastore('check');
        const status = store
          ? await store.schemaStatus()
          : { version: null, latest: '', current: false, pending: [], unknown: [] };
        const { LATEST_SCHEMA_VERSION } = await import('../../metastore/migrations/index.ts');
        const report = {
          database: url,
          dialect: store?.dialect ?? 'sqlite',
          exists: store !== undefined,
          version: status.version,
          latest: LATEST_SCHEMA_VERSION,
          current: status.current,
          pending: status.pending,
        };
        if (options.output === 'json') {
          printJson(context.io, report);
        } else {
          context.io.stdout(
            `${[
              `database:       ${url}${store ? '' : ' (does not exist yet)'}`,
              `schema version: ${status.version ?? 'none'}`,
              `latest version: ${LATEST_SCHEMA_VERSION}`,
              `status:         ${status.current ? 'current' : status.unknown.length > 0 ? 'newer than this airlock' : 'migrations pending'}`,
            ].join('\n')}\n`,
          );
        }
        if (status.unknown.length > 0) {
          throw new AirlockError(
            'AIRLOCK_ERR_MIGRATION_UNKNOWN',
            `the metastore schema is at \`${status.version}\`, which this airlock does not know; upgrade airlock`,
          );
        }
        if (!status.current) {
          throw new AirlockError(
            'AIRLOCK_ERR_MIGRATION_PENDING',
            store
              ? `the metastore schema is behind (pending: ${status.pending.join(', ')}); run \`airlock db migrate\``
              : 'the metastore does not exist yet; run `airlock db migrate`',
          );
        }
      }),
    );

  program
    .command('rotate-fernet-key')
    .description(
      're-encrypt every encrypted value of the metastore (variables, connections, deployment settings, DAG run confs) with the first Fernet key, in one transaction (set new,old keys, rotate, then drop old)',
    )
    .option(
      '--skip-unreadable',
      'leave the values no configured key decrypts as they are (listed on stderr) and rotate the others; without it, such a value stops the rotation and nothing changes',
    )
    .action((options: { skipUnreadable?: boolean }) =>
      closing(context, async () => {
        const store = (await context.metastore('write')) as Metastore;
        const report = await store.rotateFernetKeys({
          skipUnreadable: options.skipUnreadable === true,
        });
        const plaintext =
          report.encryptedFromPlaintext > 0
            ? ` (${report.encryptedFromPlaintext} of them were stored in plaintext and are now encrypted)`
            : '';
        context.io.stdout(
          `Re-encrypted ${report.variables} variable values and ${report.connectionFields} connection fields with the first Fernet key${plaintext}.\n`,
        );
        if (report.settings > 0) {
          context.io.stdout(`Re-encrypted ${report.settings} deployment settings.\n`);
        }
        if (report.dagRunConfs > 0) {
          context.io.stdout(`Re-encrypted the conf of ${report.dagRunConfs} DAG runs.\n`);
        }
        if (report.skipped.length > 0) {
          context.io.stderr(
            `airlock: warning: skipped ${report.skipped.length} ${report.skipped.length === 1 ? 'field' : 'fields'} no configured key decrypts (left as they were): ${report.skipped.join(', ')}\n`,
          );
        }
      }),
    );
}
