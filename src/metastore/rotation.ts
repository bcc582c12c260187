/**
 * @module metastore/rotation
 * `rotate-fernet-key`: every encrypted value re-encrypted with the first key in one transaction,
 * in batches, as `airflow rotate-fernet-key` does: Variable values, Connection passwords and
 * extras, the deployment settings, each DAG run's `conf`, and the key check; plaintext values Airflow wrote without a key
 * are encrypted too; a value no key reads stops the rotation (or, asked, is left and listed).
 */
import { type Selectable, sql, type Transaction } from 'kysely';
import { isAirlockError } from '../errors.ts';
import { ROTATE_BATCH, type StoreCore } from './core.ts';
import type { MultiFernet } from './fernet.ts';
import { checkKeys } from './key-check.ts';
import { tableExists } from './migrations/_helpers.ts';
import type { ConnectionTable, MetastoreSchema, VariableTable } from './schema.ts';
import { unreadableRowsError } from './store-errors.ts';
import type { RotationOptions, RotationReport } from './types.ts';

/**
 * The encrypted columns of the tables other modules keep in this database (created by the
 * metastore's migrations 0002 and 0003): the deployment settings and each DAG run's `conf`.
 */
interface OtherEncryptedTables {
  airlock_setting: { name: string; value: string };
  dag_run: { id: number; dag_id: string; run_id: string; conf: string | null };
}

type RotationTransaction = Transaction<MetastoreSchema & OtherEncryptedTables>;

/** One rotation's keys and tallies. */
class Renewal {
  readonly keys: MultiFernet;
  encryptedFromPlaintext = 0;
  readonly unreadable: string[] = [];

  constructor(keys: MultiFernet) {
    this.keys = keys;
  }

  /** The field re-encrypted, or `undefined` (recorded in `unreadable`) if no key reads it. */
  renew(token: string, encrypted: boolean, name: string): string | undefined {
    if (!encrypted) {
      this.encryptedFromPlaintext++;
      return this.keys.encrypt(token);
    }
    try {
      return this.keys.rotate(token);
    } catch (err) {
      if (!isAirlockError(err) || err.code !== 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID') throw err;
      this.unreadable.push(name);
      return undefined;
    }
  }
}

/**
 * Reads a table in batches of {@link ROTATE_BATCH} (`read(last)` gives the rows after the last
 * row of the batch before) and passes each row to `each`; the sum of what `each` counted.
 */
async function inBatches<R>(
  read: (last: R | undefined) => Promise<R[]>,
  each: (row: R) => Promise<number>,
): Promise<number> {
  let count = 0;
  let last: R | undefined;
  for (;;) {
    const rows = await read(last);
    for (const row of rows) count += await each(row);
    if (rows.length < ROTATE_BATCH) return count;
    last = rows.at(-1);
  }
}

/** Re-encrypts every Variable value; how many were. */
function rotateVariables(trx: Transaction<MetastoreSchema>, renewal: Renewal): Promise<number> {
  return inBatches<Pick<Selectable<VariableTable>, 'id' | 'key' | 'val' | 'is_encrypted'>>(
    (last) =>
      trx
        .selectFrom('variable')
        .select(['id', 'key', 'val', 'is_encrypted'])
        .where('id', '>', last?.id ?? 0)
        .where('val', 'is not', null)
        .orderBy('id')
        .limit(ROTATE_BATCH)
        .execute(),
    async (row) => {
      const name = `variable \`${row.key}\``;
      const val = renewal.renew(row.val as string, Boolean(row.is_encrypted), name);
      if (val === undefined) return 0;
      await trx
        .updateTable('variable')
        .set({ val, is_encrypted: true })
        .where('id', '=', row.id)
        .execute();
      return 1;
    },
  );
}

/** Re-encrypts every Connection password and extra; how many fields were. */
function rotateConnections(trx: Transaction<MetastoreSchema>, renewal: Renewal): Promise<number> {
  return inBatches<
    Pick<
      Selectable<ConnectionTable>,
      'id' | 'conn_id' | 'password' | 'extra' | 'is_encrypted' | 'is_extra_encrypted'
    >
  >(
    (last) =>
      trx
        .selectFrom('connection')
        .select(['id', 'conn_id', 'password', 'extra', 'is_encrypted', 'is_extra_encrypted'])
        .where('id', '>', last?.id ?? 0)
        .orderBy('id')
        .limit(ROTATE_BATCH)
        .execute(),
    async (row) => {
      const update: {
        password?: string;
        is_encrypted?: boolean;
        extra?: string;
        is_extra_encrypted?: boolean;
      } = {};
      if (row.password) {
        const name = `connection \`${row.conn_id}\` (password)`;
        const password = renewal.renew(row.password, Boolean(row.is_encrypted), name);
        if (password !== undefined) {
          update.password = password;
          update.is_encrypted = true;
        }
      }
      if (row.extra) {
        const name = `connection \`${row.conn_id}\` (extra)`;
        const extra = renewal.renew(row.extra, Boolean(row.is_extra_encrypted), name);
        if (extra !== undefined) {
          update.extra = extra;
          update.is_extra_encrypted = true;
        }
      }
      const fields = Number(update.password !== undefined) + Number(update.extra !== undefined);
      if (fields > 0) {
        await trx.updateTable('connection').set(update).where('id', '=', row.id).execute();
      }
      return fields;
    },
  );
}

/** Re-encrypts every deployment setting (all are encrypted); how many were. */
async function rotateSettings(trx: RotationTransaction, renewal: Renewal): Promise<number> {
  if (!(await tableExists(trx, 'airlock_setting'))) return 0;
  return inBatches<OtherEncryptedTables['airlock_setting']>(
    (last) => {
      let query = trx.selectFrom('airlock_setting').select(['name', 'value']);
      if (last !== undefined) query = query.where('name', '>', last.name);
      return query.orderBy('name').limit(ROTATE_BATCH).execute();
    },
    async (row) => {
      const value = renewal.renew(row.value, true, `setting \`${row.name}\``);
      if (value === undefined) return 0;
      await trx
        .updateTable('airlock_setting')
        .set({ value })
        .where('name', '=', row.name)
        .execute();
      return 1;
    },
  );
}

/**
 * Re-encrypts every DAG run's `conf`: a Fernet token, or the plain JSON object (it starts with
 * `{`, a token never does) of a run written before confs were encrypted; how many were.
 */
async function rotateRunConfs(trx: RotationTransaction, renewal: Renewal): Promise<number> {
  if (!(await tableExists(trx, 'dag_run'))) return 0;
  return inBatches<OtherEncryptedTables['dag_run']>(
    (last) =>
      trx
        .selectFrom('dag_run')
        .select(['id', 'dag_id', 'run_id', 'conf'])
        .where('id', '>', last?.id ?? 0)
        .where('conf', 'is not', null)
        .orderBy('id')
        .limit(ROTATE_BATCH)
        .execute(),
    async (row) => {
      const text = row.conf as string;
      const name = `the conf of run \`${row.run_id}\` of DAG \`${row.dag_id}\``;
      const conf = renewal.renew(text, !text.trimStart().startsWith('{'), name);
      if (conf === undefined) return 0;
      await trx.updateTable('dag_run').set({ conf }).where('id', '=', row.id).execute();
      return 1;
    },
  );
}

/** Re-encrypts every encrypted value with the first key, in one transaction. */
export async function rotateFernetKeys(
  core: StoreCore,
  options: RotationOptions = {},
): Promise<RotationReport> {
  const keys = core.requireKeys();
  const report = await core.write('rotate the Fernet keys', async (trx) => {
    const renewal = new Renewal(keys);
    await checkKeys(core, trx, { rotate: true });
    const variables = await rotateVariables(trx, renewal);
    const connectionFields = await rotateConnections(trx, renewal);
    const others = trx as unknown as RotationTransaction;
    const settings = await rotateSettings(others, renewal);
    const dagRunConfs = await rotateRunConfs(others, renewal);
    if (renewal.unreadable.length > 0 && !options.skipUnreadable) {
      // Thrown inside the transaction: nothing is re-encrypted.
      throw unreadableRowsError(
        renewal.unreadable,
        'nothing was rotated (`rotate-fernet-key --skip-unreadable` rotates the others)',
      );
    }
    return {
      variables,
      connectionFields,
      settings,
      dagRunConfs,
      encryptedFromPlaintext: renewal.encryptedFromPlaintext,
      skipped: renewal.unreadable,
    };
  });
  if (core.dialect === 'sqlite') {
    // Move the new pages into the file and empty the write-ahead log, so that the old tokens
    // (and any plaintext just encrypted) are not left in the log. Best effort: a reader of
    // another process may hold the log; its next checkpoint finishes the job.
    await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(core.db).catch(() => {});
  }
  return report;
}
