/**
 * @module metastore/migrations/0006-run-notes
 * What Airflow's API lets an operator read and write about runs and tries: a DAG run's `note`
 * (Airflow's `dag_run_note`, kept here as a column of `dag_run`), and `airlock_ti_history`, the
 * tries of a task instance before its latest one (Airflow's `task_instance_history`): a try's row
 * is copied there when the task instance goes back for another try (a retry, or a clear), so that
 * the tries endpoints return each earlier try's real state, dates, host and process.
 */
import type { Migration } from 'kysely/migration';

/** The run note and the try history. */
export const runNotes: Migration = {
  async up(db) {
    await db.schema.alterTable('dag_run').addColumn('note', 'text').execute();
    await db.schema
      .createTable('airlock_ti_history')
      .addColumn('dag_id', 'varchar(250)', (c) => c.notNull())
      .addColumn('run_id', 'varchar(250)', (c) => c.notNull())
      .addColumn('task_id', 'varchar(250)', (c) => c.notNull())
      .addColumn('try_number', 'integer', (c) => c.notNull())
      .addColumn('state', 'varchar(50)')
      .addColumn('max_tries', 'integer', (c) => c.notNull())
      .addColumn('queued_at', 'bigint')
      .addColumn('start_date', 'bigint')
      .addColumn('end_date', 'bigint')
      .addColumn('hostname', 'varchar(1000)')
      .addColumn('pid', 'integer')
      .addColumn('exit_code', 'integer')
      .addColumn('note', 'text')
      .addPrimaryKeyConstraint('airlock_ti_history_pkey', [
        'dag_id',
        'run_id',
        'task_id',
        'try_number',
      ])
      .execute();
  },
};
