/**
 * The IPC protocol between a supervisor and its task process: a task's `Variable.get` /
 * `Connection.get` are answered by the supervisor's lookup (values, misses, coded errors without
 * values), what must be masked is masked in the output the supervisor reads, and the task
 * process gets none of airlock's own credentials.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AirlockError } from '../../src/errors.ts';
import { SecretsMasker } from '../../src/masking/masker.ts';
import { Connection } from '../../src/model/connection.ts';
import type { SupervisorLookup } from '../../src/pipelines/supervisor.ts';
import { runTaskProcess } from '../../src/pipelines/worker.ts';
import { trySpec } from '../helpers/task-spec.ts';
import { tempDir } from '../helpers/tmp.ts';

const home = tempDir('airlock-supervisor-');
const dags = join(home, 'dags');
mkdirSync(dags, { recursive: true });
writeFileSync(
  join(dags, 'ipc_dag.ts'),
  `import { dag, task, Variable, Connection } from 'airlock';
import { writeSync } from 'node:fs';
const out = (line) => writeSync(2, line + '\\n');
dag('ipc', { schedule: null }, () => {
  task('asks', async () => {
    out('token ' + (await Variable.get('api_token')));
    out('region ' + (await Variable.get('region')));
    out('missing ' + (await Variable.get('nowhere', { default: 'fallback' })));
    out('json ' + (await Variable.get('settings', { json: true })).api_key);
    const conn = await Connection.get('warehouse');
    out('conn ' + [conn.connType, conn.host, conn.port, conn.login, conn.password, conn.extraDejson.region].join(' '));
    try { await Variable.get('broken'); } catch (err) { out('error ' + err.code + ': ' + err.message); }
    try { await Connection.get('absent'); } catch (err) { out('absent ' + err.code); }
    out('admin ' + (process.env.AIRLOCK_ADMIN_PASSWORD ?? 'absent') + ' kwargs ' + (process.env.AIRFLOW__SECRETS__BACKEND_KWARGS ?? 'absent'));
  });
});
`,
);

const lookup: SupervisorLookup = {
  maskAllResolved: false,
  resolver: {
    async getVariable(key) {
      if (key === 'broken') {
        throw new AirlockError('AIRLOCK_ERR_BACKEND_UNAVAILABLE', 'vault is down (HTTP 503)');
      }
      const values: Record<string, string> = {
        api_token: 'ipc-token-4242',
        region: 'eu-visible-1',
        settings: '{"api_key": "nested-key-5151", "size": "large"}',
      };
      const value = values[key];
      return value === undefined ? undefined : { value, source: 'vault', trace: [] };
    },
    async getConnection(connId) {
      if (connId !== 'warehouse') return undefined;
      return {
        value: Connection.fromUri(
          'postgres://analyst:ipc-conn-pw-77@db.example.com:5432/x?region=eu',
          connId,
        ),
        source: 'vault',
        trace: [],
      };
    },
  },
};

describe('the supervisor answers its task over IPC', () => {
  it('serves values, misses and coded errors, and masks what the rule says before answering', async () => {
    const lines: string[] = [];
    const result = await runTaskProcess(
      trySpec({
        dagsFolder: dags,
        fileloc: 'ipc_dag.ts',
        dagId: 'ipc',
        taskId: 'asks',
        runId: 'manual__1',
        logicalDate: new Date(0).toISOString(),
        dataIntervalStart: new Date(0).toISOString(),
        dataIntervalEnd: new Date(0).toISOString(),
      }),
      {
        env: {
          PATH: process.env.PATH,
          AIRLOCK_HOME: home,
          AIRLOCK_ADMIN_PASSWORD: 'admin-pw-never-seen',
          AIRFLOW__SECRETS__BACKEND_KWARGS: '{"token": "kwargs-token-never-seen"}',
        },
        masker: new SecretsMasker(),
        lookup,
        onLine: (line) => lines.push(line),
      },
    );
    expect(result.exitCode, lines.join('\n')).toBe(0);
    expect(lines).toEqual(
      expect.arrayContaining([
        'token ***',
        'region eu-visible-1',
        'missing fallback',
        'json ***',
        'conn postgres db.example.com 5432 analyst *** eu',
        'error AIRLOCK_ERR_BACKEND_UNAVAILABLE: vault is down (HTTP 503)',
        'absent AIRLOCK_ERR_CONN_NOT_FOUND',
        'admin absent kwargs absent',
      ]),
    );
  }, 30_000);
});
