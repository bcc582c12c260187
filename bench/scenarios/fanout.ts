/**
 * `fanout`: many tasks reading the same few secrets at once, as a DAG run's tasks do. Each of
 * 200 tasks (50 at a time) reads 10 Variables and 2 Connections, one by one, from Secrets
 * Manager (moto behind a +2 ms proxy). Three readers in the same run: airlock without a cache
 * (Airflow's per-lookup behaviour), AWS Lambda Powertools Parameters' `getSecret` (its default
 * 5 s cache), and airlock's resolver with its cache (coalescing concurrent misses).
 */
import { createAwsSecretsManagerBackend } from '../../src/backends/aws-secrets-manager.ts';
import { SecretCache } from '../../src/resolver/cache.ts';
import { createResolver, type Resolver } from '../../src/resolver/resolver.ts';
import type { ScenarioOptions } from '../_types.ts';
import { MOTO_CREDENTIALS, runTasks, startAwsBench } from './_aws.ts';

const VARIABLES = Array.from({ length: 10 }, (_, i) => `fanout_var_${i}`);
const CONNECTIONS = ['fanout_db', 'fanout_api'];

export async function run({ quick }: ScenarioOptions): Promise<Record<string, number>> {
  const tasks = quick ? 100 : 200;
  const concurrency = 50;
  const seed: Record<string, string> = {};
  for (const key of VARIABLES) seed[`airflow/variables/${key}`] = `value of ${key}`;
  for (const id of CONNECTIONS)
    seed[`airflow/connections/${id}`] = `postgres://u:pw-${id}@db:5432/x`;
  const aws = await startAwsBench(seed);
  try {
    const resolverWith = (cache?: SecretCache): Resolver =>
      createResolver({
        backends: [
          createAwsSecretsManagerBackend({ ...MOTO_CREDENTIALS, endpoint_url: aws.proxy.url }),
        ],
        ...(cache ? { cache } : {}),
      });
    const airlockTask = (resolver: Resolver) => async () => {
      for (const key of VARIABLES) {
        if ((await resolver.getVariable(key))?.value === undefined) throw new Error(`no ${key}`);
      }
      for (const id of CONNECTIONS) {
        if (!(await resolver.getConnection(id))?.value.host) throw new Error(`no ${id}`);
      }
    };

    // Warm the SDK clients (credential chain, first connection) outside the measurement.
    const warm = resolverWith();
    await airlockTask(warm)();

    aws.reset();
    const noCacheWall = await runTasks(tasks, concurrency, airlockTask(warm));
    const noCacheCalls = aws.calls();
    await warm.dispose();

    // Powertools reads its client settings from the environment, as a Lambda function would.
    process.env.AWS_ENDPOINT_URL = aws.proxy.url;
    process.env.AWS_REGION = MOTO_CREDENTIALS.region_name;
    process.env.AWS_ACCESS_KEY_ID = MOTO_CREDENTIALS.aws_access_key_id;
    process.env.AWS_SECRET_ACCESS_KEY = MOTO_CREDENTIALS.aws_secret_access_key;
    const { getSecret, SecretsProvider } = await import(
      '@aws-lambda-powertools/parameters/secrets'
    );
    // Warm Powertools' client on a secret the tasks do not read, so its cache starts empty.
    await new SecretsProvider().get(`airflow/variables/${VARIABLES[0]}`);
    aws.reset();
    const powertoolsWall = await runTasks(tasks, concurrency, async () => {
      for (const key of VARIABLES) {
        if ((await getSecret(`airflow/variables/${key}`)) === undefined) throw new Error(key);
      }
      for (const id of CONNECTIONS) {
        if ((await getSecret(`airflow/connections/${id}`)) === undefined) throw new Error(id);
      }
    });
    const powertoolsCalls = aws.calls();

    const cached = resolverWith(
      new SecretCache({ ttlSeconds: { variable: 900, connection: 900 } }),
    );
    // Warm the client with a lookup outside the measured keys.
    await cached.getVariable('fanout_warmup');
    aws.reset();
    const airlockWall = await runTasks(tasks, concurrency, airlockTask(cached));
    const airlockCalls = aws.calls();
    await cached.dispose();

    const distinct = VARIABLES.length + CONNECTIONS.length;
    return {
      tasks,
      concurrency,
      distinct_keys: distinct,
      nocache_calls: noCacheCalls,
      nocache_wall_ms: noCacheWall,
      powertools_calls: powertoolsCalls,
      powertools_wall_ms: powertoolsWall,
      airlock_calls: airlockCalls,
      airlock_wall_ms: airlockWall,
      fanout_calls_ratio: airlockCalls / distinct,
      fanout_vs_powertools: airlockWall / powertoolsWall,
    };
  } finally {
    await aws.close();
  }
}
