/**
 * The Airflow docs' check of a secrets backend, as an airlock DAG: the task reads the Variable
 * `test-key` through the chain (the configured backend, then the environment, then the
 * metastore) and prints it. Copy this file into `$AIRLOCK_HOME/dags`, then
 * `npx airlock dags test example_secrets_dags` (or trigger it in the UI) and read the task's log:
 * `My variable is: <value>`.
 *
 * Trigger it with the conf `{"key": "<another key>"}` to print another Variable; one whose key is
 * sensitive (`password`, `secret`, `token`, …) prints as `***`.
 */
import { dag, task, Variable } from 'airlock';

export default dag(
  'example_secrets_dags',
  {
    schedule: null,
    description: "The Airflow docs' secrets-backend check: print a Variable",
    tags: ['example'],
  },
  () => {
    task('test-task', async ({ dagRun }) => {
      const key = typeof dagRun.conf.key === 'string' ? dagRun.conf.key : 'test-key';
      const value = await Variable.get(key);
      console.log(`My variable is: ${value}`);
    });
  },
);
