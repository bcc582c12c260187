/**
 * @module server/default-connections
 * Airflow's default connections, as `airflow db create-default-connections` (and
 * `POST /api/v2/connections/defaults`) adds them (`airflow.utils.db.create_default_connections`):
 * the widely used ones whose fields Airflow fixes, for local development. Existing connections are
 * never replaced.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, type ConnectionFields } from '../model/connection.ts';

const fields: Readonly<Record<string, ConnectionFields>> = {
  airflow_db: { conn_type: 'mysql', host: 'mysql', login: 'root', password: '', schema: 'airflow' },
  aws_default: { conn_type: 'aws' },
  cassandra_default: { conn_type: 'cassandra', host: 'cassandra', port: 9042 },
  databricks_default: { conn_type: 'databricks', host: 'localhost' },
  druid_broker_default: {
    conn_type: 'druid',
    host: 'druid-broker',
    port: 8082,
    extra: { endpoint: 'druid/v2/sql' },
  },
  elasticsearch_default: {
    conn_type: 'elasticsearch',
    host: 'localhost',
    schema: 'http',
    port: 9200,
  },
  fs_default: { conn_type: 'fs', extra: { path: '/' } },
  google_cloud_default: { conn_type: 'google_cloud_platform', schema: 'default' },
  hive_cli_default: {
    conn_type: 'hive_cli',
    port: 10000,
    host: 'localhost',
    extra: { use_beeline: true, auth: '' },
    schema: 'default',
  },
  http_default: { conn_type: 'http', host: 'https://www.httpbin.org/' },
  kubernetes_default: { conn_type: 'kubernetes' },
  local_mysql: {
    conn_type: 'mysql',
    host: 'localhost',
    login: 'airflow',
    password: 'airflow',
    schema: 'airflow',
  },
  mongo_default: { conn_type: 'mongo', host: 'mongo', port: 27017 },
  mssql_default: { conn_type: 'mssql', host: 'localhost', port: 1433 },
  mysql_default: { conn_type: 'mysql', login: 'root', schema: 'airflow', host: 'mysql' },
  postgres_default: {
    conn_type: 'postgres',
    login: 'postgres',
    password: 'airflow',
    schema: 'airflow',
    host: 'postgres',
  },
  presto_default: { conn_type: 'presto', host: 'localhost', schema: 'hive', port: 3400 },
  redis_default: { conn_type: 'redis', host: 'redis', port: 6379, extra: { db: 0 } },
  sftp_default: {
    conn_type: 'sftp',
    host: 'localhost',
    port: 22,
    login: 'airflow',
    extra: { key_file: '~/.ssh/id_rsa', no_host_key_check: true },
  },
  spark_default: { conn_type: 'spark', host: 'yarn', extra: { queue: 'root.default' } },
  sqlite_default: { conn_type: 'sqlite', host: join(tmpdir(), 'sqlite_default.db') },
  ssh_default: { conn_type: 'ssh', host: 'localhost' },
  trino_default: { conn_type: 'trino', host: 'localhost', schema: 'hive', port: 3400 },
  vertica_default: { conn_type: 'vertica', host: 'localhost', port: 5433 },
};

/** The default connections, by connId. */
export const DEFAULT_CONNECTIONS: readonly { connId: string; connection: Connection }[] =
  Object.entries(fields).map(([connId, f]) => ({
    connId,
    connection: Connection.fromFields(f, connId),
  }));
