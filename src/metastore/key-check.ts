/**
 * @module metastore/key-check
 * The key check: writes are refused with keys that are not the metastore's (none decrypts the
 * check, or, before the check existed, any of the oldest values), checked once per key set and
 * process; and what reads with the configured keys (encrypted rows, unreadable fields).
 */
import type { Transaction } from 'kysely';
import { AirlockError } from '../errors.ts';
import {
  type ConnectionRow,
  KEY_CHECK_SAMPLES,
  KEY_CHECK_TEXT,
  type StoreCore,
  type VariableRow,
} from './core.ts';
import type { MultiFernet } from './fernet.ts';
import { CONNECTIONS, tableRows, VARIABLES } from './paging.ts';
import type { MetastoreSchema } from './schema.ts';

/** Whether `keys` decrypt `token`. */
export function decrypts(keys: MultiFernet, token: string): boolean {
  try {
    keys.decryptToString(token);
    return true;
  } catch {
    return false;
  }
}

function wrongKey(core: StoreCore, what: string): AirlockError {
  return new AirlockError(
    'AIRLOCK_ERR_CRYPTO_KEY_WRONG',
    `metastore (${core.url}): none of the configured Fernet keys decrypts ${what}, so they are not this metastore's key; nothing was written (to change keys, configure \`new,old\` and run \`airlock rotate-fernet-key\`)`,
    { details: { database: core.url } },
  );
}

/** The oldest encrypted values of the metastore, if any (what a new key check must read). */
async function sampleTokens(trx: Transaction<MetastoreSchema>): Promise<string[]> {
  const variables = await trx
    .selectFrom('variable')
    .select('val')
    .where('is_encrypted', '=', true)
    .where('val', 'is not', null)
    .where('val', '!=', '')
    .orderBy('id')
    .limit(KEY_CHECK_SAMPLES)
    .execute();
  const connections = await trx
    .selectFrom('connection')
    .select('password')
    .where('is_encrypted', '=', true)
    .where('password', 'is not', null)
    .where('password', '!=', '')
    .orderBy('id')
    .limit(KEY_CHECK_SAMPLES)
    .execute();
  return [...variables.map((r) => r.val), ...connections.map((r) => r.password)].filter(
    (token): token is string => typeof token === 'string',
  );
}

/** Whether the configured keys passed the key check in this process (no check needed). */
export function keysChecked(core: StoreCore): boolean {
  return core.keys !== undefined && core.checkedKeys === core.keys;
}

/**
 * Refuses to write with keys that are not the metastore's: none of them decrypts the key
 * check, or (a metastore without one yet) any of its oldest encrypted values. When they pass and
 * the check is missing, it is written with the primary key; `rotate` re-encrypts it with the
 * primary key. Runs inside the write's transaction, so the check and the write are one.
 */
export async function checkKeys(
  core: StoreCore,
  trx: Transaction<MetastoreSchema>,
  options: { rotate?: boolean } = {},
): Promise<void> {
  const keys = core.requireKeys();
  if (core.checkedKeys === keys && !options.rotate) return;
  const now = new Date().toISOString();
  const row = await trx
    .selectFrom('airlock_key_check')
    .select('token')
    .where('id', '=', 1)
    .executeTakeFirst();
  if (row) {
    if (!decrypts(keys, row.token)) throw wrongKey(core, 'its key check');
    if (options.rotate) {
      await trx
        .updateTable('airlock_key_check')
        .set({ token: keys.rotate(row.token), updated_at: now })
        .where('id', '=', 1)
        .execute();
    }
  } else {
    // A metastore written before the check (or by Airflow): the keys must read its oldest
    // values. Several are tried, so that one corrupt row does not lock writes out.
    const samples = await sampleTokens(trx);
    if (samples.length > 0 && !samples.some((token) => decrypts(keys, token))) {
      throw wrongKey(core, 'any of its oldest encrypted values');
    }
    await trx
      .insertInto('airlock_key_check')
      .values({ id: 1, token: keys.encrypt(KEY_CHECK_TEXT), updated_at: now })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }
  core.checkedKeys = keys;
}

/** Whether any row holds an encrypted value (so that a new key must not be generated). */
export function hasEncryptedRows(core: StoreCore): Promise<boolean> {
  return core.run('read the metastore', async () => {
    const variable = await core.db
      .selectFrom('variable')
      .select('id')
      .where('is_encrypted', '=', true)
      .where('val', 'is not', null)
      .limit(1)
      .executeTakeFirst();
    if (variable) return true;
    const connection = await core.db
      .selectFrom('connection')
      .select('id')
      .where((eb) =>
        eb.or([
          eb.and([eb('is_encrypted', '=', true), eb('password', 'is not', null)]),
          eb.and([eb('is_extra_encrypted', '=', true), eb('extra', 'is not', null)]),
        ]),
      )
      .limit(1)
      .executeTakeFirst();
    return connection !== undefined;
  });
}

/** Every encrypted field no configured key decrypts, named, in key order (of one table, or both). */
export async function unreadableFields(
  core: StoreCore,
  table?: 'variable' | 'connection',
): Promise<string[]> {
  const names: string[] = [];
  const reads = (token: string | null, encrypted: boolean | number): boolean =>
    !token || !encrypted || (core.keys !== undefined && decrypts(core.keys, token));
  if (table !== 'connection') {
    type Row = Pick<VariableRow, 'key' | 'val' | 'is_encrypted'>;
    for await (const rows of tableRows<Row>(core, VARIABLES, ['key', 'val', 'is_encrypted'])) {
      for (const row of rows) {
        if (!reads(row.val, row.is_encrypted)) names.push(`variable \`${row.key}\``);
      }
    }
  }
  if (table !== 'variable') {
    const columns = ['conn_id', 'password', 'is_encrypted', 'extra', 'is_extra_encrypted'];
    type Row = Pick<
      ConnectionRow,
      'conn_id' | 'password' | 'is_encrypted' | 'extra' | 'is_extra_encrypted'
    >;
    for await (const rows of tableRows<Row>(core, CONNECTIONS, columns)) {
      for (const row of rows) {
        if (!reads(row.password, row.is_encrypted)) {
          names.push(`connection \`${row.conn_id}\` (password)`);
        }
        if (!reads(row.extra, row.is_extra_encrypted)) {
          names.push(`connection \`${row.conn_id}\` (extra)`);
        }
      }
    }
  }
  return names;
}
