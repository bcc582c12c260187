/**
 * A scheduled pipeline: a daily run per data interval (Airflow's `@daily`), values handed from task
 * to task with their types, a params spec, a trigger rule for the cleanup, a short-circuit and a
 * retry with exponential backoff. Copy it into `$AIRLOCK_HOME/dags`, then
 * `airlock dags unpause example_daily_etl` and run `npm start` (or `airlock scheduler` with
 * `airlock worker`).
 */
import { dag, shortCircuit, task } from 'airlock';

dag(
  'example_daily_etl',
  {
    schedule: '@daily',
    startDate: '2026-01-01T00:00:00Z',
    timezone: 'Europe/Amsterdam',
    catchup: false,
    description: 'Counts yesterday’s orders and publishes the total',
    params: { minimum: { type: 'integer', default: 0, minimum: 0 } },
    defaultArgs: { retries: 2, retryDelaySeconds: 30, retryExponentialBackoff: true },
  },
  (d) => {
    const extract = task('extract', ({ dataIntervalStart, dataIntervalEnd }) => ({
      from: dataIntervalStart,
      to: dataIntervalEnd,
      orders: 42,
    }));
    const enough = d.task(
      'enough_orders',
      ({ upstream, params }) => upstream(extract).orders >= params.minimum,
      { dependsOn: [extract] },
    );
    const gate = shortCircuit('has_orders', ({ upstream }) => upstream(enough), {
      dependsOn: [enough],
    });
    const publish = task(
      'publish',
      ({ upstream, log }) => {
        const { orders, from } = upstream(extract);
        log.info(`${orders} orders since ${from}`);
        return { published: orders };
      },
      { dependsOn: [gate, extract] },
    );
    task('cleanup', ({ log }) => log.info('removing the temporary files'), {
      dependsOn: [publish],
      triggerRule: 'all_done',
    });
  },
);
