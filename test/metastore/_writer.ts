/**
 * A separate process that writes to a metastore, for the concurrent-writer tests:
 *
 *   node test/metastore/_writer.ts <url> <fernet-key> <prefix> <count> set|import
 *
 * `set` stores `<prefix>_<i>` = `value-<prefix>-<i>` one transaction at a time, and overwrites
 * the shared key `shared` after each; `import` stores the same keys in one import transaction.
 * It prints `ok` when every write returned.
 */
import { parseFernetKeys } from '../../src/metastore/fernet.ts';
import { Metastore } from '../../src/metastore/metastore.ts';

const [url = '', key = '', prefix = 'p', countText = '10', mode = 'set'] = process.argv.slice(2);
const count = Number(countText);
const store = await Metastore.open({ url, keys: parseFernetKeys(key), busyTimeoutMs: 60_000 });
try {
  if (mode === 'import') {
    await store.importVariables(
      Array.from({ length: count }, (_, i) => ({
        key: `${prefix}_${i}`,
        value: `value-${prefix}-${i}`,
        where: `entry ${i}`,
      })),
    );
  } else {
    for (let i = 0; i < count; i++) {
      await store.setVariable(`${prefix}_${i}`, `value-${prefix}-${i}`);
      await store.setVariable('shared', `${prefix}-${i}`);
    }
  }
  process.stdout.write('ok\n');
} finally {
  await store.close();
}
