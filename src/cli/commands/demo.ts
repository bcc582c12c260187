/**
 * @module cli/commands/demo
 * `airlock demo`: the quick start's first command until the server lands. It resolves a
 * Variable and a Connection from the environment through the configured chain and shows the
 * provenance of each, with the password masked.
 */

import type { Command } from 'commander';
import { loadConfigAsync } from '../../config/read-config.ts';
import { getConnection } from '../../model/connection-lookup.ts';
import { getVariable } from '../../model/variable.ts';
import { openSecrets } from '../../resolver/open.ts';
import type { CliContext } from '../context.ts';
import { formatWhich } from './secrets.ts';

/** The values the demo puts in its environment when the user has not set them. */
export const DEMO_ENV = Object.freeze({
  AIRFLOW_VAR_GREETING: 'hello from the environment',
  AIRFLOW_CONN_DEMO_DB:
    'postgres://analyst:s3cr%40t-pass@db.example.com:5432/analytics?sslmode=require&application_name=airlock-demo',
});

/** Registers `airlock demo`. */
export function registerDemoCommand(program: Command, context: CliContext): void {
  program
    .command('demo')
    .description(
      'resolve a demo Variable and Connection from the environment and show their provenance',
    )
    .action(async () => {
      const env = { ...DEMO_ENV, ...context.io.env };
      // The demo's own environment only: no metastore link is opened by a lookup it serves.
      const { resolver } = openSecrets(await loadConfigAsync(env), { purpose: 'cli', env });
      const out = (line = '') => context.io.stdout(`${line}\n`);
      try {
        const greeting = await getVariable(resolver, 'greeting');
        const { value: conn, source } = await getConnection(resolver, 'demo_db');
        out('airlock demo: resolving from AIRFLOW_VAR_GREETING and AIRFLOW_CONN_DEMO_DB');
        out();
        out(`Variable greeting = ${JSON.stringify(greeting)}`);
        out(formatWhich(await resolver.which('variable', 'greeting')));
        out();
        out(
          `Connection demo_db: ${conn.connType}://${conn.login ?? ''}@${conn.host ?? ''}:${conn.port ?? ''}/${conn.schema ?? ''} (source: ${source})`,
        );
        out(`  password: ${conn.password ? '***' : '(none)'}   extra: ${conn.extra ?? '{}'}`);
        out(formatWhich(await resolver.which('connection', 'demo_db')));
        out();
        out('Next: `AIRFLOW_VAR_GREETING=hi npx airlock variables get greeting -o json`,');
        out('`npx airlock secrets which variable greeting`, `npx airlock config show`, and');
        out('`npm start` for the web UI.');
      } finally {
        await resolver.dispose();
      }
    });
}
