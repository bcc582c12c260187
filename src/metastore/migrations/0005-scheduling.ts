/**
 * @module metastore/migrations/0005-scheduling
 * What the scheduler keeps: `airlock_dag` (one row per DAG the scheduler or the CLI has seen:
 * paused or not, its parsed description, and its next run, as Airflow's `dag` table), and the
 * data interval of each run in `dag_run`. A scheduled run is unique per (dag_id, logical_date)
 * (a partial unique index, as Airflow's `dag_run_dag_id_execution_date_key` for its runs), on top
 * of the (dag_id, run_id) key: two schedulers can never create the same interval twice.
 *
 * `airlock_xcom` holds the values tasks hand to each other (a task's return value is its
 * `return_value`), Fernet-encrypted, one per (dag_id, run_id, task_id, key).
 *
 * The tables are `airlock_dag` and `airlock_xcom`, not Airflow's `dag` and `xcom`, whose columns
 * differ: an Airflow metadata database keeps its own.
 */
// biome-ignore-all lint/suspicious/noExplicitAny: migrations run on an untyped Kysely<any>.
import { sql } from 'kysely';
import type { Migration } from 'kysely/migration';

/** The scheduler's tables and columns. */
export const scheduling: Migration = {
  async up(db) {
    await db.schema
      .createTable('airlock_xcom')
      .addColumn('dag_id', 'varchar(250)', (c) => c.notNull())
      .addColumn('run_id', 'varchar(250)', (c) => c.notNull())
      .addColumn('task_id', 'varchar(250)', (c) => c.notNull())
      .addColumn('key', 'varchar(512)', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('airlock_xcom_pkey', ['dag_id', 'run_id', 'task_id', 'key'])
      .execute();
    await db.schema
      .createTable('airlock_dag')
      .addColumn('dag_id', 'varchar(250)', (c) => c.primaryKey())
      .addColumn('is_paused', 'boolean', (c) => c.notNull())
      .addColumn('is_active', 'boolean', (c) => c.notNull())
      .addColumn('fileloc', 'text')
      .addColumn('schedule', 'varchar(250)')
      .addColumn('timezone', 'varchar(100)', (c) => c.notNull())
      .addColumn('info', 'text', (c) => c.notNull())
      .addColumn('next_dagrun', 'bigint')
      .addColumn('next_dagrun_data_interval_start', 'bigint')
      .addColumn('next_dagrun_data_interval_end', 'bigint')
      .addColumn('next_dagrun_create_after', 'bigint')
      .addColumn('last_parsed_at', 'bigint', (c) => c.notNull())
      .execute();
    // The scheduler's query: unpaused DAGs whose next run is due.
    await db.schema
      .createIndex('airlock_dag_due_idx')
      .on('airlock_dag')
      .columns(['is_paused', 'next_dagrun_create_after'])
      .execute();
    // Trigger rules and retry backoff (Airflow's task_instance keeps them in the serialized DAG).
    await db.schema
      .alterTable('task_instance')
      .addColumn('trigger_rule', 'varchar(50)', (c) => c.notNull().defaultTo('all_success'))
      .execute();
    await db.schema
      .alterTable('task_instance')
      .addColumn('retry_exponential_backoff', 'boolean', (c) => c.notNull().defaultTo(false))
      .execute();
    await db.schema.alterTable('task_instance').addColumn('max_retry_delay_ms', 'bigint').execute();
    await db.schema.alterTable('dag_run').addColumn('data_interval_start', 'bigint').execute();
    await db.schema.alterTable('dag_run').addColumn('data_interval_end', 'bigint').execute();
    await db.schema
      .createIndex('dag_run_scheduled_logical_date_key')
      .on('dag_run')
      .columns(['dag_id', 'logical_date'])
      .unique()
      .where(sql.ref('run_type'), '=', 'scheduled')
      .execute();
  },
};
