/**
 * Issue 16, defects 3, 5 and 6 (data): no silent change of data, one unreadable row breaks
 * nothing else, and the right code for each bad input. The CLI is spawned as a user runs it,
 * on SQLite and on the PostgreSQL server every machine runs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Fernet } from '../../src/metastore/fernet.ts';
import { Connection } from '../../src/model/connection.ts';
import { type CliResult, runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { postgresDatabases, sqliteDatabases, type TestDatabases } from '../metastore/_databases.ts';
import { createTestApp } from '../server/_app.ts';

const KEY_A = Fernet.generateKey();
const KEY_B = Fernet.generateKey();

/**
 * Exit 1 and one error line with the code, last on stderr (after any notice such as the schema
 * being created on first use), and no stack.
 */
function expectError(r: CliResult, code: string): void {
  expect(r.signal).toBeNull();
  expect(r.code).toBe(1);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines.at(-1)).toMatch(new RegExp(`^airlock: error ${code}: `));
  expect(lines.slice(0, -1).every((line) => /^airlock: (?!error)/.test(line))).toBe(true);
}

const dialects: Array<[string, () => TestDatabases]> = [
  ['sqlite', sqliteDatabases],
  ['postgres', postgresDatabases],
];

for (const [dialect, make] of dialects) {
  describe.concurrent(`on ${dialect}`, () => {
    const databases = make();
    afterAll(() => databases.dispose());

    async function setup(key = KEY_A) {
      const db = await databases.create();
      const dir = tempDir();
      const env = (fernetKey = key): Record<string, string> => ({
        AIRLOCK_HOME: dir,
        AIRLOCK__DATABASE__URL: db.url,
        AIRLOCK__CORE__FERNET_KEY: fernetKey,
      });
      const cli = (args: string[], fernetKey = key) => runAirlock(args, { env: env(fernetKey) });
      const file = (name: string, content: string | Buffer) => {
        const path = join(dir, name);
        writeFileSync(path, content);
        return path;
      };
      return { db, dir, cli, file };
    }

    async function variableKeys(cli: (a: string[]) => Promise<CliResult>): Promise<string[]> {
      const r = await cli(['variables', 'list', '-o', 'json']);
      return (JSON.parse(r.stdout) as Array<{ key: string }>).map((v) => v.key);
    }

    describe('defect 3: silent data changes are refused', () => {
      it('refuses a conn_id given twice in a connections JSON import, importing nothing', async () => {
        const { cli, file } = await setup();
        const path = file(
          'conns.json',
          '{"db": {"conn_type": "postgres", "host": "first"},\n "other": {"conn_type": "http"},\n "db": {"conn_type": "postgres", "host": "second"}}',
        );
        const r = await cli(['connections', 'import', path]);
        expectError(r, 'AIRLOCK_ERR_STORE_IMPORT_INVALID');
        expect(r.stderr).toContain('the conn_id `db` is given twice');
        const list = await cli(['connections', 'list', '-o', 'json']);
        expect(JSON.parse(list.stdout)).toEqual([]);
      });

      it('refuses Latin-1 import files, naming the line, instead of storing U+FFFD', async () => {
        const { cli, file } = await setup();
        const latin1 = Buffer.from('{"ok": "fine",\n "city": "Montr\xe9al"}', 'latin1');
        const r = await cli(['variables', 'import', file('vars.json', latin1)]);
        expectError(r, 'AIRLOCK_ERR_STORE_IMPORT_INVALID');
        expect(r.stderr).toContain('line 2: the file is not UTF-8 text');
        const env = await cli([
          'variables',
          'import',
          file('vars.env', Buffer.from('A=1\nB=caf\xe9\n', 'latin1')),
        ]);
        expectError(env, 'AIRLOCK_ERR_STORE_IMPORT_INVALID');
        const conns = await cli([
          'connections',
          'import',
          file('c.yaml', Buffer.from('db:\n  conn_type: http\n  host: h\xf4te\n', 'latin1')),
        ]);
        expectError(conns, 'AIRLOCK_ERR_STORE_IMPORT_INVALID');
        expect(await variableKeys(cli)).toEqual([]);
      });

      it('refuses a lone surrogate in an imported Variable value and Connection password', async () => {
        const { cli, file } = await setup();
        const r = await cli([
          'variables',
          'import',
          file('s.json', '{"a": "1", "k": "x\\ud800y"}'),
        ]);
        expectError(r, 'AIRLOCK_ERR_STORE_VALUE_INVALID');
        expect(r.stderr).toContain('s.json` line 1: the value of `k` holds a lone UTF-16');
        const conn = await cli([
          'connections',
          'import',
          file('c.json', '{"db": {"conn_type": "http", "password": "\\udc00"}}'),
        ]);
        expectError(conn, 'AIRLOCK_ERR_STORE_VALUE_INVALID');
        expect(await variableKeys(cli)).toEqual([]);
      });

      it('refuses writes with a valid Fernet key that is not the metastore key', async () => {
        const { cli } = await setup();
        expect((await cli(['variables', 'set', 'k', 'under-a'])).code).toBe(0);
        const wrong = await cli(['variables', 'set', 'j', 'under-b'], KEY_B);
        expectError(wrong, 'AIRLOCK_ERR_CRYPTO_KEY_WRONG');
        expect(wrong.stderr).not.toContain('under-b');
        expectError(
          await cli(['connections', 'add', 'c', '--conn-uri', 'http://u:pw@h'], KEY_B),
          'AIRLOCK_ERR_CRYPTO_KEY_WRONG',
        );
        expectError(await cli(['rotate-fernet-key'], KEY_B), 'AIRLOCK_ERR_CRYPTO_KEY_WRONG');
        // Nothing was written under B: everything still reads with A alone.
        const list = await cli(['variables', 'list', '-o', 'json']);
        expect(JSON.parse(list.stdout)).toEqual([
          { key: 'k', value: 'under-a', description: null },
        ]);
        expect(list.stderr).toBe('');
        // The documented way to change keys works: new,old; rotate; then new alone.
        expect((await cli(['variables', 'set', 'j', 'during'], `${KEY_B},${KEY_A}`)).code).toBe(0);
        expect((await cli(['rotate-fernet-key'], `${KEY_B},${KEY_A}`)).code).toBe(0);
        expect((await cli(['variables', 'set', 'l', 'after'], KEY_B)).code).toBe(0);
        expectError(
          await cli(['variables', 'set', 'm', 'x'], KEY_A),
          'AIRLOCK_ERR_CRYPTO_KEY_WRONG',
        );
        expect((await cli(['variables', 'get', 'k'], KEY_B)).stdout).toBe('under-a\n');
      });

      it('checks the key of a metastore written before the key check against its rows', async () => {
        const { db, cli } = await setup();
        expect((await cli(['variables', 'set', 'k', 'v'])).code).toBe(0);
        // As a metastore migrated before 0004 (or written by Airflow): rows, no check row.
        await db.exec('delete from airlock_key_check');
        expectError(
          await cli(['variables', 'set', 'j', 'x'], KEY_B),
          'AIRLOCK_ERR_CRYPTO_KEY_WRONG',
        );
        expect((await cli(['variables', 'set', 'j', 'x'])).code).toBe(0);
        expect(await db.exec('select id from airlock_key_check')).toHaveLength(1);
        expectError(
          await cli(['variables', 'set', 'i', 'x'], KEY_B),
          'AIRLOCK_ERR_CRYPTO_KEY_WRONG',
        );
      });
    });

    describe('defect 5: one unreadable row', () => {
      async function corrupted() {
        const ctx = await setup();
        const { cli } = ctx;
        for (const [k, v] of [
          ['a', '1'],
          ['b', 'bee'],
          ['c', '3'],
          ['d', 'dee'],
        ]) {
          expect((await cli(['variables', 'set', k as string, v as string])).code).toBe(0);
        }
        await cli(['connections', 'add', 'db', '--conn-uri', 'postgres://u:conn-pw@h/db']);
        await cli(['connections', 'add', 'web', '--conn-uri', 'http://h']);
        // Corrupt ciphertext: a valid-looking Fernet prefix, nothing any key decrypts.
        await ctx.db.exec(`update variable set val = 'gAAAAABcorrupt' where key in ('b', 'd')`);
        await ctx.db.exec(`update connection set password = 'gAAAAABcorrupt' where conn_id = 'db'`);
        return ctx;
      }

      it('lists every other row and shows the bad ones as unreadable, with the code', async () => {
        const { cli } = await corrupted();
        const table = await cli(['variables', 'list']);
        expect(table.code).toBe(0);
        expect(table.stdout).toMatch(/^b\s+\| <unreadable: AIRLOCK_ERR_CRYPTO_TOKEN_INVALID>/m);
        expect(table.stdout).toMatch(/^c\s+\| 3/m);
        expect(table.stderr).toContain('2 rows cannot be decrypted');
        const json = JSON.parse((await cli(['variables', 'list', '-o', 'json'])).stdout);
        expect(json).toContainEqual({
          key: 'd',
          value: null,
          description: null,
          unreadable: 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
        });
        const conns = await cli(['connections', 'list', '-o', 'json']);
        expect(conns.code).toBe(0);
        const rows = JSON.parse(conns.stdout) as Array<Record<string, unknown>>;
        expect(rows.map((r) => [r.conn_id, r.unreadable])).toEqual([
          ['db', 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID'],
          ['web', undefined],
        ]);
        expect(conns.stdout + conns.stderr).not.toContain('conn-pw');
      });

      it('stops export and rotation naming every bad row; --skip-unreadable rotates the rest', async () => {
        const { cli, db, dir } = await corrupted();
        const out = join(dir, 'export.json');
        const exported = await cli(['variables', 'export', out]);
        expectError(exported, 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID');
        expect(exported.stderr).toContain('variable `b`, variable `d`; nothing was exported');
        expect(exported.stderr).not.toMatch(/bee|dee/);
        const conns = await cli(['connections', 'export', join(dir, 'c.json')]);
        expect(conns.stderr).toContain('connection `db` (password)');
        const before = await db.exec('select key, val from variable order by key');
        const rotated = await cli(['rotate-fernet-key'], `${KEY_B},${KEY_A}`);
        expectError(rotated, 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID');
        expect(rotated.stderr).toContain('variable `b`, variable `d`, connection `db` (password)');
        expect(await db.exec('select key, val from variable order by key')).toEqual(before);
        const skipped = await cli(['rotate-fernet-key', '--skip-unreadable'], `${KEY_B},${KEY_A}`);
        expect(skipped.code).toBe(0);
        expect(skipped.stdout).toContain('Re-encrypted 2 variable values');
        expect(skipped.stderr).toContain('skipped 3 fields');
        // The readable rows are under the new key alone now.
        expect((await cli(['variables', 'get', 'c'], KEY_B)).stdout).toBe('3\n');
      });
    });

    describe('defect 6: codes and messages', () => {
      it('refuses a Variable key holding a line break', async () => {
        const { cli } = await setup();
        expectError(await cli(['variables', 'set', 'a\nb', 'v']), 'AIRLOCK_ERR_STORE_KEY_INVALID');
        expect(await variableKeys(cli)).toEqual([]);
      });

      it('says where a raw NUL is in an imported value', async () => {
        const { cli, file } = await setup();
        const r = await cli(['variables', 'import', file('n.json', '{"k": "a\u0000b"}')]);
        expectError(r, 'AIRLOCK_ERR_STORE_IMPORT_INVALID');
        expect(r.stderr).toContain(
          'line 1 column 9: the value of `k` holds a raw control character (U+0000)',
        );
      });

      it('says a Variable with a NULL value column has no value, not that nothing is there', async () => {
        const { cli, db } = await setup();
        await cli(['variables', 'set', 'k', 'v']);
        await db.exec(`update variable set val = null where key = 'k'`);
        const r = await cli(['variables', 'get', 'k']);
        expectError(r, 'AIRLOCK_ERR_VAR_NOT_FOUND');
        expect(r.stderr).toContain('the metastore holds a row with a NULL value');
      });

      it('refuses a YAML alias bomb with a coded error, and resolves plain aliases', async () => {
        const { cli, file } = await setup();
        const refs = Array.from({ length: 60 }, () => '*y').join(',');
        const bomb = file('bomb.yaml', `a: &x [1, 2, 3]\nb: &y [*x, *x, *x]\nc: [${refs}]\n`);
        const r = await cli(['variables', 'import', bomb]);
        expectError(r, 'AIRLOCK_ERR_STORE_IMPORT_INVALID');
        expect(r.stderr).toContain('line 3: a YAML alias cannot be resolved safely');
        const plain = file('plain.yaml', 'a: &x shared\nb: *x\n');
        expect((await cli(['variables', 'import', plain])).code).toBe(0);
        expect((await cli(['variables', 'get', 'b'])).stdout).toBe('shared\n');
      });

      it('reports true created and overwritten counts for concurrent imports', async () => {
        const { cli, file } = await setup();
        const entries = Object.fromEntries(
          Array.from({ length: 3000 }, (_, i) => [`key_${i}`, `v${i}`]),
        );
        const one = file('one.json', JSON.stringify(entries));
        const two = file('two.json', JSON.stringify(entries));
        const results = await Promise.all([
          cli(['variables', 'import', one]),
          cli(['variables', 'import', two]),
        ]);
        const counts = results.map((r) => {
          expect(r.code).toBe(0);
          const m = /(\d+) created, (\d+) overwritten/.exec(r.stdout);
          return [Number(m?.[1]), Number(m?.[2])];
        });
        expect(counts.map(([c]) => c).sort()).toEqual([0, 3000]);
        expect(counts.map(([, o]) => o).sort()).toEqual([0, 3000]);
      });
    });
  });
}

describe('the metastore URL', () => {
  it('refuses writes to an in-memory SQLite database (sqlite:///), which would lose them', async () => {
    const dir = tempDir();
    for (const url of ['sqlite:///', 'sqlite://', 'sqlite:///:memory:']) {
      const env = {
        AIRLOCK_HOME: dir,
        AIRLOCK__DATABASE__URL: url,
        AIRLOCK__CORE__FERNET_KEY: KEY_A,
      };
      const r = await runAirlock(['variables', 'set', 'k', 'lost'], { env });
      expectError(r, 'AIRLOCK_ERR_CONFIG_INVALID');
      expect(r.stderr).toContain('in-memory SQLite database');
    }
  });
});

describe('YAML aliases in the local-file backend', () => {
  it('gives a coded parse error for an alias bomb, not a raw ReferenceError', async () => {
    const dir = tempDir();
    const refs = Array.from({ length: 60 }, () => '*y').join(',');
    const path = join(dir, 'vars.yaml');
    writeFileSync(path, `a: &x [1, 2, 3]\nb: &y [*x, *x, *x]\nc: [${refs}]\n`);
    const r = await runAirlock(['variables', 'get', 'a'], {
      env: {
        AIRLOCK_HOME: dir,
        AIRLOCK__SECRETS__BACKEND: 'local-file',
        AIRLOCK__SECRETS__BACKEND_KWARGS: JSON.stringify({ variables_file_path: path }),
      },
    });
    expectError(r, 'AIRLOCK_ERR_BACKEND_FILE_PARSE');
    expect(r.stderr).toContain('a YAML alias cannot be resolved safely');
  });
});

describe('defect 5 in the server: one unreadable row', () => {
  it('lists it as unreadable in the API and on the Variables page, and every other row', async () => {
    const t = await createTestApp();
    try {
      await t.metastore.setVariable('a', 'one');
      await t.metastore.setVariable('b', 'bee-value');
      await t.metastore.addConnection('db', Connection.fromUri('postgres://u:conn-pw@h/db'));
      await t.metastore.addConnection('web', Connection.fromUri('http://h'));
      await t.metastore.kysely
        .updateTable('variable')
        .set({ val: 'gAAAAABcorrupt' })
        .where('key', '=', 'b')
        .execute();
      await t.metastore.kysely
        .updateTable('connection')
        .set({ password: 'gAAAAABcorrupt' })
        .where('conn_id', '=', 'db')
        .execute();
      const vars = await t.as('editor', '/api/v1/variables');
      expect(vars.status).toBe(200);
      expect(await vars.json()).toEqual({
        variables: [
          { key: 'a', value: 'one', description: null },
          {
            key: 'b',
            value: '',
            description: null,
            unreadable: 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
          },
        ],
        total_entries: 2,
      });
      const conns = await t.as('editor', '/api/v1/connections');
      expect(conns.status).toBe(200);
      const body = (await conns.json()) as { connections: Array<Record<string, unknown>> };
      expect(body.connections.map((c) => [c.connection_id, c.unreadable])).toEqual([
        ['db', 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID'],
        ['web', undefined],
      ]);
      const page = await t.as('editor', '/variables');
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('unreadable (<code>AIRLOCK_ERR_CRYPTO_TOKEN_INVALID</code>)');
      expect(html).toContain('>a</a>');
      expect(html).not.toContain('bee-value');
      const connPage = await t.as('editor', '/connections');
      expect(connPage.status).toBe(200);
      expect(await connPage.text()).not.toContain('conn-pw');
    } finally {
      await t.close();
    }
  });
});
