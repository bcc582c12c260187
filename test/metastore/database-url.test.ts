import { describe, expect, it } from 'vitest';
import { AirlockError } from '../../src/errors.ts';
import {
  defaultDatabaseUrl,
  parseDatabaseUrl,
  redactDatabaseUrl,
} from '../../src/metastore/database-url.ts';

describe('parseDatabaseUrl', () => {
  it.each([
    ['sqlite:////var/lib/airlock/airlock.db', '/var/lib/airlock/airlock.db'],
    ['sqlite:///relative/airlock.db', '/work/dir/relative/airlock.db'],
    ['sqlite:////tmp/with%20space.db?check_same_thread=false', '/tmp/with space.db'],
    ['sqlite+pysqlite:////tmp/a.db', '/tmp/a.db'],
    ['sqlite://', ':memory:'],
    ['sqlite:///:memory:', ':memory:'],
  ])('reads SQLAlchemy sqlite URL %s', (url, path) => {
    expect(parseDatabaseUrl(url, '/work/dir')).toEqual({ kind: 'sqlite', path });
  });

  it.each([
    ['postgresql://u:p@db:5432/airflow', 'postgresql://u:p@db:5432/airflow'],
    ['postgres://u@db/airflow?sslmode=require', 'postgresql://u@db/airflow?sslmode=require'],
    ['postgresql+psycopg2://u:p@db/airflow', 'postgresql://u:p@db/airflow'],
    ['postgresql+asyncpg://u:p@db/airflow', 'postgresql://u:p@db/airflow'],
    ['POSTGRESQL://u@db/x', 'postgresql://u@db/x'],
  ])('reads PostgreSQL URL %s', (url, connectionString) => {
    expect(parseDatabaseUrl(url)).toEqual({ kind: 'postgres', connectionString });
  });

  it.each([
    ['mysql://root:pw-secret@db/airflow', 'the scheme `mysql` is not supported'],
    ['sqlite://host/x.db', 'a sqlite URL has no host'],
    ['/just/a/path.db', 'it has no scheme'],
    ['postgresql://u:pw-secret@[bad', 'cannot be parsed'],
  ])('rejects %s without quoting it', (url, problem) => {
    let err: unknown;
    try {
      parseDatabaseUrl(url);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AirlockError);
    expect((err as AirlockError).message).toContain(problem);
    expect((err as AirlockError).message).not.toContain('pw-secret');
  });

  it('defaults to airlock.db in the home', () => {
    expect(defaultDatabaseUrl('/home/me/airlock')).toBe('sqlite:////home/me/airlock/airlock.db');
  });
});

describe('redactDatabaseUrl', () => {
  it.each([
    ['postgresql://app:s3cr3t@db:5432/airflow', 'postgresql://app:***@db:5432/airflow'],
    ['postgresql+psycopg2://app:p@ss:w0rd@db/airflow', 'postgresql+psycopg2://app:***@db/airflow'],
    [
      'postgresql://db/airflow?user=app&password=s3cr3t&sslmode=require',
      'postgresql://db/airflow?user=app&password=***&sslmode=require',
    ],
    ['postgresql://app@db:5432/airflow', 'postgresql://app@db:5432/airflow'],
    ['postgresql://db:5432/airflow', 'postgresql://db:5432/airflow'],
    ['sqlite:////tmp/a.db', 'sqlite:////tmp/a.db'],
  ])('%s → %s', (url, redacted) => {
    expect(redactDatabaseUrl(url)).toBe(redacted);
  });
});
