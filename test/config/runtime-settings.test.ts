/**
 * A deployment setting that controls how spawned programs run (`NODE_OPTIONS`, `LD_PRELOAD`, …)
 * is applied by no airlock process unless that process allows it by name: one stored before the
 * server refused such names (or allowed on another server) must not reach a task that
 * `airlock dags test` starts.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { controlsRuntime, settingApplies } from '../../src/config/runtime-settings.ts';
import { parseFernetKeys } from '../../src/metastore/fernet.ts';
import { Metastore } from '../../src/metastore/metastore.ts';
import { ServerStore } from '../../src/server/store.ts';
import { runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const FERNET_KEY = 'zJhyqb8xQzJ4bb8H3xU2dZ_HiVXoOk-mu2d-ZcNkU6U=';

/** A home whose metastore holds a NODE_OPTIONS setting that would create `marker`. */
async function home(): Promise<{ env: Record<string, string>; marker: string }> {
  const dir = tempDir('airlock-runtime-settings-');
  mkdirSync(join(dir, 'dags'));
  writeFileSync(
    join(dir, 'dags', 'probe.ts'),
    "import { dag, task } from 'airlock';\ndag('probe', { schedule: null }, () => { task('t', ({ log }) => log.info('ran')); });\n",
  );
  const marker = join(dir, 'ran-other-code');
  const payload = join(dir, 'payload.cjs');
  writeFileSync(payload, `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'x');\n`);
  const env = { AIRLOCK_HOME: dir, AIRLOCK__CORE__FERNET_KEY: FERNET_KEY };
  expect((await runAirlock(['db', 'migrate'], { env })).code).toBe(0);
  const metastore = await Metastore.open({
    url: `sqlite:///${join(dir, 'airlock.db')}`,
    keys: parseFernetKeys(FERNET_KEY),
  });
  try {
    const store = new ServerStore(metastore);
    await store.putSetting('NODE_OPTIONS', `--require ${payload}`, false, 'admin');
    await store.putSetting('AIRFLOW_VAR_FROM_SETTINGS', 'applied', false, 'admin');
  } finally {
    await metastore.close();
  }
  return { env, marker };
}

describe('runtime-controlling deployment settings in the CLI', () => {
  it('are not applied to the tasks `dags test` starts, while other settings are', async () => {
    const { env, marker } = await home();
    const value = await runAirlock(['variables', 'get', 'from_settings'], { env });
    expect(value.stdout).toBe('applied\n');
    expect(value.stderr).toContain('NODE_OPTIONS controls how spawned programs run');
    expect(value.stderr).not.toContain('--require');
    const test = await runAirlock(['dags', 'test', 'probe'], { env, timeoutMs: 60_000 });
    expect(test.code, test.stderr).toBe(0);
    expect(existsSync(marker)).toBe(false);
  });

  it('are applied where the process allows them by name', async () => {
    const { env, marker } = await home();
    const allowed = { ...env, AIRLOCK__SERVER__ALLOWED_RUNTIME_SETTINGS: 'NODE_OPTIONS' };
    const test = await runAirlock(['dags', 'test', 'probe'], { env: allowed, timeoutMs: 60_000 });
    expect(test.code, test.stderr).toBe(0);
    expect(existsSync(marker)).toBe(true);
  });

  it('names the variables that run other code, not their harmless neighbours', () => {
    for (const name of ['NODE_OPTIONS', 'LD_PRELOAD', 'DYLD_INSERT_LIBRARIES', 'npm_config_x']) {
      expect(controlsRuntime(name), name).toBe(true);
    }
    for (const name of ['NODE_EXTRA_CA_CERTS', 'PYTHONUNBUFFERED', 'AIRFLOW_VAR_X', 'TZ']) {
      expect(controlsRuntime(name), name).toBe(false);
    }
    expect(settingApplies('PATH', {})).toBe(false);
    expect(
      settingApplies('PATH', { AIRLOCK__SERVER__ALLOWED_RUNTIME_SETTINGS: 'TZDIR,PATH' }),
    ).toBe(true);
  });
});
