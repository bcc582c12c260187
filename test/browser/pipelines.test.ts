/**
 * The Airflow docs' check of a secrets backend, in a real browser: Vault (the fake) configured
 * with the docs' environment settings, the docs' example DAG in the DAGs folder, a signed-in
 * user triggers it in the UI, opens the task's log and sees `My variable is: <value>`; a
 * sensitive-named Variable shows `***`. The server app (with the DAG routes as an extension and
 * a worker in its process) runs in this process on 127.0.0.1:0; the browser is Debian's Chromium.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFernetKeys } from '../../src/metastore/fernet.ts';
import { Metastore } from '../../src/metastore/metastore.ts';
import {
  createPipelineRoutes,
  PIPELINE_NAVIGATION,
  startServerWorker,
} from '../../src/pipelines/http.ts';
import type { Worker } from '../../src/pipelines/worker.ts';
import { createServerApp } from '../../src/server/app.ts';
import { ServerStore } from '../../src/server/store.ts';
import { startVaultFake, type VaultFake } from '../../src/testing/fakes/vault-fake.ts';
import { ROOT } from '../helpers/cli.ts';

const CHROMIUM = '/usr/bin/chromium';
const ROOT_TOKEN = 'docs-root-token';
const PASSWORD = 'pipelines-admin-pw1';
const KEY = 'zJhyqb8xQzJ4bb8H3xU2dZ_HiVXoOk-mu2d-ZcNkU6U=';

let vault: VaultFake | undefined;
let browser: Browser | undefined;
let metastore: Metastore | undefined;
let worker: Worker | undefined;
let dispose: (() => Promise<void>) | undefined;
let close: (() => void) | undefined;
let url = '';
let home = '';

async function kvPut(path: string, data: Record<string, string>): Promise<void> {
  const res = await fetch(`${vault?.url}/v1/secret/data/${path}`, {
    method: 'PUT',
    headers: { 'x-vault-token': ROOT_TOKEN },
    body: JSON.stringify({ data, options: {} }),
  });
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `the browser tests need Debian's Chromium at ${CHROMIUM} (apt-get install chromium)`,
    );
  }
  vault = await startVaultFake({ rootToken: ROOT_TOKEN });
  // vault kv put secret/variables/test-key value=… (the docs' step), and a sensitive one.
  await kvPut('variables/test-key', { value: 'value-from-vault' });
  await kvPut('variables/db_password', { value: 'vault-pw-9f3k2' });
  home = mkdtempSync(join(tmpdir(), 'airlock-pipelines-ui-'));
  mkdirSync(join(home, 'dags'));
  copyFileSync(
    join(ROOT, 'examples/dags/example_secrets_dags.ts'),
    join(home, 'dags/example_secrets_dags.ts'),
  );
  // The docs' settings: the backend's class path and its kwargs, verbatim.
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AIRLOCK_HOME: home,
    AIRLOCK__CORE__FERNET_KEY: KEY,
    AIRLOCK__WORKER__POLL_INTERVAL_MS: '100',
    AIRFLOW__SECRETS__BACKEND: 'airflow.providers.hashicorp.secrets.vault.VaultBackend',
    AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({
      connections_path: 'connections',
      variables_path: 'variables',
      mount_point: 'secret',
      url: vault.url,
      token: ROOT_TOKEN,
    }),
  };
  metastore = await Metastore.open({
    url: `sqlite:///${join(home, 'airlock.db')}`,
    keys: parseFernetKeys(KEY),
  });
  await new ServerStore(metastore).createUser('admin', PASSWORD, 'admin');
  const created = createServerApp({
    metastore,
    env,
    extensions: [createPipelineRoutes({ onTrigger: () => worker?.wake() })],
    navigation: PIPELINE_NAVIGATION,
  });
  dispose = created.dispose;
  worker = await startServerWorker(created.deps, { concurrency: 2 });
  const server = serve({ fetch: created.app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => server.once('listening', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await worker?.stop({ kill: true });
  close?.();
  await dispose?.();
  await metastore?.close();
  await vault?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

async function signIn(): Promise<Page> {
  const context = await (browser as Browser).newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  await page.goto(`${url}/dags`);
  await page.fill('#username', 'admin');
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/dags$/);
  return page;
}

async function openLog(page: Page): Promise<string> {
  const row = page.locator('tr[data-task="test-task"]');
  await expect
    .poll(async () => row.locator('.state').textContent(), { timeout: 20_000 })
    .toMatch(/success|failed/);
  await row.getByRole('link', { name: 'log 1' }).click();
  return (await page.locator('#log').textContent()) ?? '';
}

describe('pipelines in the UI', () => {
  it('triggers the docs example DAG and shows `My variable is: <value>` in the task log', async () => {
    const page = await signIn();
    await expect
      .poll(() => page.locator('td a', { hasText: 'example_secrets_dags' }).count())
      .toBe(1);
    await page.getByRole('button', { name: 'Trigger example_secrets_dags' }).click();
    await page.waitForURL(/\/runs\//);
    const log = await openLog(page);
    expect(log).toContain('My variable is: value-from-vault');
  }, 40_000);

  it('shows *** for a sensitive-named Variable', async () => {
    const page = await signIn();
    await page.goto(`${url}/dags/example_secrets_dags`);
    await page.fill('#conf', '{"key": "db_password"}');
    await page.getByRole('button', { name: 'Trigger', exact: true }).click();
    await page.waitForURL(/\/runs\//);
    const log = await openLog(page);
    expect(log).toContain('My variable is: ***');
    expect(log).not.toContain('vault-pw-9f3k2');
  }, 40_000);
});
