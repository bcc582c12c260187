/**
 * Keys and conn_ids that would leave a path-based store's configured path (`..` segments, a
 * leading `/`, a backslash) are not valid names there: a lookup is a miss, never a read of a
 * secret elsewhere, even when one exists at the normalised path.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapesPath } from '../../src/backends/backend.ts';
import { createLocalFileBackend } from '../../src/backends/local-file.ts';
import { createVaultBackend } from '../../src/backends/vault.ts';
import { startVaultFake, type VaultFake } from '../../src/testing/index.ts';
import { tempDir } from '../helpers/tmp.ts';

const ROOT = 'root';
const ESCAPES = [
  '../other/secret',
  '../../other/secret',
  'a/../../b',
  'a/../../../secret/data/b',
  './../b',
  '%2e%2e/other/secret',
  '..%2fother%2fsecret',
  '/secret/data/b',
  '..\\other\\secret',
  'a\\..\\..\\b',
];

describe('escapesPath', () => {
  it('flags dot segments, a leading slash and backslashes, and nothing else', () => {
    for (const id of ESCAPES.filter((i) => i !== '..%2fother%2fsecret')) {
      expect(escapesPath(id), id).toBe(true);
    }
    for (const id of ['hello', 'team/db_password', 'a.b', '...', 'v1..2', 'x/.hidden', 'a-b_c']) {
      expect(escapesPath(id), id).toBe(false);
    }
  });
});

describe('Vault: names that would leave variables_path / connections_path', () => {
  let fake: VaultFake;
  beforeAll(async () => {
    fake = await startVaultFake({ rootToken: ROOT });
    fake.writeSecret('secret/variables/inside', { value: 'inside-value' });
    fake.writeSecret('secret/variables/team/nested', { value: 'nested-value' });
    // Secrets outside the configured paths, where a normalised `..` would land.
    fake.writeSecret('secret/other/secret', { value: 'OUTSIDE-1' });
    fake.writeSecret('secret/b', { value: 'OUTSIDE-2' });
    fake.writeSecret('secret/other/conn', { conn_uri: 'postgres://u:OUTSIDE-3@h/db' });
  });
  afterAll(() => fake.close());

  it('reads nothing outside the path, even when a secret exists there', async () => {
    const vault = createVaultBackend({ url: fake.url, token: ROOT });
    expect(await vault.getVariable('inside')).toBe('inside-value');
    expect(await vault.getVariable('team/nested')).toBe('nested-value');
    const mark = fake.requests.length;
    for (const id of ESCAPES) {
      expect(await vault.getVariable(id), id).toBeUndefined();
      expect(await vault.getConnectionValue(id), id).toBeUndefined();
    }
    expect(await vault.getConnectionValue('../other/conn')).toBeUndefined();
    expect(await vault.getConnectionValue('../../other/conn')).toBeUndefined();
    // Nothing outside the paths was even asked for.
    // (The mount's own description, asked once after a miss to name a KV version mismatch,
    // is no secret.)
    for (const r of fake.requests.slice(mark)) {
      expect(r.path).toMatch(
        /^(\/v1\/)?(secret\/data\/(variables|connections)\/[^/]|sys\/internal\/ui\/mounts\/secret$)/,
      );
    }
  });

  it('also without a mount_point (the mount is the first segment of the id)', async () => {
    const vault = createVaultBackend({ url: fake.url, token: ROOT, mount_point: null });
    expect(await vault.getVariable('secret/inside')).toBe('inside-value');
    for (const id of ['secret/../../other/secret', 'secret/a/../../b', '../secret/b']) {
      expect(await vault.getVariable(id), id).toBeUndefined();
    }
  });
});

describe('local file: keys are names in the file, never paths', () => {
  it('finds no other key for a traversing name', async () => {
    const dir = tempDir('airlock-path-names-');
    const path = join(dir, 'variables.json');
    writeFileSync(path, JSON.stringify({ inside: 'v', 'other/secret': 'OUTSIDE' }));
    const local = createLocalFileBackend({ variables_file_path: path });
    expect(await local.getVariable('inside')).toBe('v');
    expect(await local.getVariable('../other/secret')).toBeUndefined();
    expect(await local.getVariable('x/../other/secret')).toBeUndefined();
  });
});
