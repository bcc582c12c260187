/**
 * The metastore against Airflow's side of the contract, played by Python's `sqlite3` and
 * `cryptography` (what Airflow itself uses): rows airlock writes decrypt in Python with the same
 * key, and rows Python writes the way Airflow's models do read in airlock.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Fernet, parseFernetKeys } from '../../src/metastore/fernet.ts';
import { Metastore } from '../../src/metastore/metastore.ts';
import { Connection } from '../../src/model/connection.ts';
import { tempDir } from '../helpers/tmp.ts';

const PRELUDE = `
import json, sqlite3, sys
from cryptography.fernet import Fernet, MultiFernet
req = json.load(sys.stdin)
def out(value):
    json.dump(value, sys.stdout)
`;

/** Runs Python with `req` in scope; fails (never skips) when python3 or cryptography is missing. */
function python<T>(script: string, input: unknown): T {
  const result = spawnSync('python3', ['-c', PRELUDE + script], {
    input: JSON.stringify(input),
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (result.error !== undefined || result.status !== 0) {
    throw new Error(
      `these tests need python3 with the cryptography package (pip install cryptography): ${result.error?.message ?? result.stderr}`,
    );
  }
  return JSON.parse(result.stdout) as T;
}

const UNICODE = 'héllo wörld — 日本語 🔐 "quoted" \\ back';

describe('metastore interop with Airflow (Python sqlite3 + cryptography)', () => {
  const dir = tempDir('airlock-interop-');
  const stores: Metastore[] = [];
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });
  const open = async (path: string, keys: string) => {
    const store = await Metastore.open({ url: `sqlite:///${path}`, keys: parseFernetKeys(keys) });
    stores.push(store);
    return store;
  };

  it('writes rows that Python decrypts from the SQLite file with the same key', async () => {
    const key = Fernet.generateKey();
    const path = join(dir, 'airlock-wrote.db');
    const store = await open(path, key);
    await store.setVariable('greeting', UNICODE, { description: 'a description' });
    await store.setVariable('empty', '');
    await store.addConnection(
      'warehouse',
      Connection.fromUri(
        'postgres://admin:p%40ss%3Aw%2Ford@db.example.com:5432/analytics?sslmode=require',
        'warehouse',
      ),
    );
    const read = python<{
      variables: Record<string, [string, string | null, number]>;
      connection: Record<string, unknown>;
    }>(
      `
f = Fernet(req["key"].encode())
db = sqlite3.connect(req["path"])
variables = {}
for key, val, description, is_encrypted in db.execute("select key, val, description, is_encrypted from variable"):
    variables[key] = [f.decrypt(val.encode()).decode() if is_encrypted else val, description, is_encrypted]
row = db.execute("select conn_id, conn_type, host, schema, login, password, port, extra, is_encrypted, is_extra_encrypted from connection").fetchone()
names = ["conn_id", "conn_type", "host", "schema", "login", "password", "port", "extra", "is_encrypted", "is_extra_encrypted"]
connection = dict(zip(names, row))
connection["password"] = f.decrypt(connection["password"].encode()).decode()
connection["extra"] = json.loads(f.decrypt(connection["extra"].encode()).decode())
out({"variables": variables, "connection": connection})
`,
      { key, path },
    );
    expect(read.variables).toEqual({
      greeting: [UNICODE, 'a description', 1],
      empty: ['', null, 1],
    });
    expect(read.connection).toEqual({
      conn_id: 'warehouse',
      conn_type: 'postgres',
      host: 'db.example.com',
      schema: 'analytics',
      login: 'admin',
      password: 'p@ss:w/ord',
      port: 5432,
      extra: { sslmode: 'require' },
      is_encrypted: 1,
      is_extra_encrypted: 1,
    });
  });

  it('reads rows Python inserts the way Airflow does, also under an older key', async () => {
    const oldKey = Fernet.generateKey();
    const newKey = Fernet.generateKey();
    const path = join(dir, 'python-wrote.db');
    await open(path, newKey); // creates the schema
    python(
      `
old = Fernet(req["old"].encode())
new = Fernet(req["new"].encode())
db = sqlite3.connect(req["path"])
# Airflow's Variable.set_val / Connection.set_password / set_extra: fernet.encrypt(bytes(v, "utf-8")).decode()
db.execute("insert into variable (key, val, description, is_encrypted) values (?, ?, ?, ?)",
           ("py_var", new.encrypt(req["text"].encode("utf-8")).decode(), "from python", True))
db.execute("insert into variable (key, val, is_encrypted) values (?, ?, ?)",
           ("py_old", old.encrypt(b"under the old key").decode(), True))
db.execute("insert into variable (key, val, is_encrypted) values (?, ?, ?)",
           ("py_plain", "written with no fernet key", False))
db.execute("""insert into connection (conn_id, conn_type, host, schema, login, password, port, extra,
              is_encrypted, is_extra_encrypted, description) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
           ("py_conn", "mysql", "mysql.example.com", "shop", "app", new.encrypt("pw:ü@/".encode()).decode(), 3306,
            new.encrypt(json.dumps({"charset": "utf8mb4"}).encode()).decode(), True, True, "desc"))
db.commit()
out(True)
`,
      { old: oldKey, new: newKey, path, text: UNICODE },
    );
    const store = await open(path, `${newKey},${oldKey}`);
    expect(await store.getVariableRecord('py_var')).toMatchObject({
      value: UNICODE,
      description: 'from python',
      isEncrypted: true,
    });
    expect(await store.getVariable('py_old')).toBe('under the old key');
    expect(await store.getVariable('py_plain')).toBe('written with no fernet key');
    expect(await store.getConnection('py_conn')).toMatchObject({
      connType: 'mysql',
      host: 'mysql.example.com',
      schema: 'shop',
      login: 'app',
      password: 'pw:ü@/',
      port: 3306,
      extra: '{"charset": "utf8mb4"}',
      description: 'desc',
    });
    // After rotation, Python reads every row with the new key alone.
    await store.rotateFernetKeys();
    const values = python<Record<string, string>>(
      `
f = Fernet(req["new"].encode())
db = sqlite3.connect(req["path"])
out({k: f.decrypt(v.encode()).decode() for k, v, e in db.execute("select key, val, is_encrypted from variable") if e})
`,
      { new: newKey, path },
    );
    expect(values).toEqual({
      py_var: UNICODE,
      py_old: 'under the old key',
      py_plain: 'written with no fernet key',
    });
  });

  it("opens a metadata database Python built with Airflow's own table definitions", async () => {
    const key = Fernet.generateKey();
    const path = join(dir, 'airflow-shaped.db');
    python(
      `
f = Fernet(req["key"].encode())
db = sqlite3.connect(req["path"])
db.execute('CREATE TABLE variable (id INTEGER NOT NULL, "key" VARCHAR(250), val TEXT, description TEXT, is_encrypted BOOLEAN, PRIMARY KEY (id), UNIQUE ("key"))')
db.execute("""CREATE TABLE connection (id INTEGER NOT NULL, conn_id VARCHAR(250) NOT NULL, conn_type VARCHAR(500) NOT NULL,
  description TEXT, host VARCHAR(500), schema VARCHAR(500), login TEXT, password TEXT, port INTEGER,
  is_encrypted BOOLEAN, is_extra_encrypted BOOLEAN, extra TEXT, PRIMARY KEY (id), UNIQUE (conn_id))""")
db.execute("insert into variable (key, val, is_encrypted) values (?, ?, ?)", ("airflow_var", f.encrypt(b"from airflow").decode(), True))
db.commit()
out(True)
`,
      { key, path },
    );
    const store = await open(path, key);
    expect(await store.getVariable('airflow_var')).toBe('from airflow');
    await store.setVariable('airlock_var', 'from airlock');
    const back = python<string>(
      `
db = sqlite3.connect(req["path"])
(val,) = db.execute("select val from variable where key = 'airlock_var'").fetchone()
out(Fernet(req["key"].encode()).decrypt(val.encode()).decode())
`,
      { key, path },
    );
    expect(back).toBe('from airlock');
  });
});
