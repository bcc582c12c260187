/**
 * @module metastore/migrations/0003-pipelines
 * The pipeline tables: `dag_run` (one row per run of a DAG) and `task_instance` (one row per task
 * of a run), named and shaped after Airflow's. `task_instance` is also the work queue: a row in
 * state `queued` (or `up_for_retry`) whose `run_after` has passed is work that any worker may
 * claim (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite).
 *
 * Times are epoch milliseconds (`bigint`), the same on both databases.
 */
// biome-ignore-all lint/suspicious/noExplicitAny: migrations run on an untyped Kysely<any>.
import type { Migration } from 'kysely/migration';
import { dialectOf } from './_helpers.ts';

/** The pipeline tables. */
export const pipelines: Migration = {
  async up(db) {
    const sqlite = dialectOf(db) === 'sqlite';
    const id = (table: string) =>
      db.schema
        .createTable(table)
        .addColumn('id', sqlite ? 'integer' : 'bigserial', (c) =>
          sqlite ? c.primaryKey().autoIncrement() : c.primaryKey(),
        );
    await id('dag_run')
      .addColumn('dag_id', 'varchar(250)', (c) => c.notNull())
      .addColumn('run_id', 'varchar(250)', (c) => c.notNull())
      .addColumn('run_type', 'varchar(50)', (c) => c.notNull())
      .addColumn('state', 'varchar(50)', (c) => c.notNull())
      .addColumn('conf', 'text')
      .addColumn('fileloc', 'text')
      .addColumn('logical_date', 'bigint', (c) => c.notNull())
      .addColumn('queued_at', 'bigint', (c) => c.notNull())
      .addColumn('start_date', 'bigint')
      .addColumn('end_date', 'bigint')
      .addColumn('triggered_by', 'varchar(250)')
      .addUniqueConstraint('dag_run_dag_id_run_id_key', ['dag_id', 'run_id'])
      .execute();
    await db.schema
      .createIndex('dag_run_dag_id_queued_at_idx')
      .on('dag_run')
      .columns(['dag_id', 'queued_at'])
      .execute();
    await id('task_instance')
      .addColumn('dag_id', 'varchar(250)', (c) => c.notNull())
      .addColumn('run_id', 'varchar(250)', (c) => c.notNull())
      .addColumn('task_id', 'varchar(250)', (c) => c.notNull())
      .addColumn('state', 'varchar(50)')
      .addColumn('try_number', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('max_tries', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('upstream', 'text', (c) => c.notNull())
      .addColumn('retry_delay_ms', 'bigint', (c) => c.notNull())
      .addColumn('timeout_ms', 'bigint')
      .addColumn('run_after', 'bigint')
      .addColumn('queued_at', 'bigint')
      .addColumn('start_date', 'bigint')
      .addColumn('end_date', 'bigint')
      .addColumn('hostname', 'varchar(250)')
      .addColumn('worker_id', 'varchar(250)')
      .addColumn('pid', 'integer')
      .addColumn('heartbeat_at', 'bigint')
      .addColumn('exit_code', 'integer')
      .addColumn('note', 'text')
      .addUniqueConstraint('task_instance_dag_run_task_key', ['dag_id', 'run_id', 'task_id'])
      .execute();
    // The queue's index: claimable work in order.
    await db.schema
      .createIndex('task_instance_state_run_after_idx')
      .on('task_instance')
      .columns(['state', 'run_after'])
      .execute();
  },
};
