/**
 * The Airflow docs' check of a secrets backend, in a real browser, through `airlock server`
 * (what `npm start` runs): Vault (the fake) holds the docs' secrets, the docs' example DAG is in
 * the DAGs folder, a signed-in admin adds the docs' environment variables as deployment
 * settings (the kwargs marked secret), triggers the DAG in the UI, opens the task's log and sees
 * `My variable is: <value>`; a sensitive-named Variable shows `***`. The browser is Debian's
 * Chromium.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultFake, type VaultFake } from '../../src/testing/fakes/vault-fake.ts';
import {
  launchChromium,
  SCREENSHOTS,
  type ServerProcess,
  startServerProcess,
} from '../helpers/browser.ts';
import { ROOT } from '../helpers/cli.ts';

const ROOT_TOKEN = 'docs-root-token';
const PASSWORD = 'pipelines-admin-pw1';
const SENSITIVE = 'vault-pw-9f3k2';

let vault: VaultFake | undefined;
let browser: Browser | undefined;
let server: ServerProcess | undefined;
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
  vault = await startVaultFake({ rootToken: ROOT_TOKEN });
  // vault kv put secret/variables/test-key value=… (the docs' step), and a sensitive one.
  await kvPut('variables/test-key', { value: 'value-from-vault' });
  await kvPut('variables/db_password', { value: SENSITIVE });
  home = mkdtempSync(join(tmpdir(), 'airlock-pipelines-ui-'));
  mkdirSync(join(home, 'dags'));
  copyFileSync(
    join(ROOT, 'examples/dags/example_secrets_dags.ts'),
    join(home, 'dags/example_secrets_dags.ts'),
  );
  server = await startServerProcess({
    AIRLOCK_HOME: home,
    AIRLOCK_ADMIN_PASSWORD: PASSWORD,
    AIRLOCK__WORKER__POLL_INTERVAL_MS: '100',
  });
  url = server.url;
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await vault?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

/** Adds a deployment setting on the Deployment page, as the docs' "add to your Deployment". */
async function addSetting(page: Page, name: string, value: string, secret: boolean): Promise<void> {
  await page.goto(`${url}/settings`);
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Value', { exact: true }).fill(value);
  if (secret) await page.getByLabel(/Secret/).check();
  await page.getByRole('button', { name: 'Save setting' }).click();
  await page.waitForURL(/\/settings\?ok=/);
}

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
  await shot(page, 'dag-run');
  await row.getByRole('link', { name: 'log 1' }).click();
  return (await page.locator('#log').textContent()) ?? '';
}

describe('pipelines in the UI', () => {
  it('triggers the docs example DAG and shows `My variable is: <value>` in the task log', async () => {
    const page = await signIn();
    // The docs' settings, verbatim, kept by the server; the kwargs (with the token) secret.
    await addSetting(
      page,
      'AIRFLOW__SECRETS__BACKEND',
      'airflow.providers.hashicorp.secrets.vault.VaultBackend',
      false,
    );
    await addSetting(
      page,
      'AIRFLOW__SECRETS__BACKEND_KWARGS',
      JSON.stringify({
        connections_path: 'connections',
        variables_path: 'variables',
        mount_point: 'secret',
        url: vault?.url,
        token: ROOT_TOKEN,
      }),
      true,
    );
    expect(await page.content()).not.toContain(ROOT_TOKEN);
    await page.goto(`${url}/dags`);
    await shot(page, 'dags');
    await expect
      .poll(() => page.locator('td a', { hasText: 'example_secrets_dags' }).count())
      .toBe(1);
    await page.getByRole('button', { name: 'Trigger example_secrets_dags' }).click();
    await page.waitForURL(/\/runs\//);
    const log = await openLog(page);
    expect(log).toContain('My variable is: value-from-vault');
    await shot(page, 'task-log');
  }, 40_000);

  it('shows *** for a sensitive-named Variable', async () => {
    const page = await signIn();
    await page.goto(`${url}/dags/example_secrets_dags`);
    await page.fill('#conf', '{"key": "db_password"}');
    await page.getByRole('button', { name: 'Trigger', exact: true }).click();
    await page.waitForURL(/\/runs\//);
    const log = await openLog(page);
    expect(log).toContain('My variable is: ***');
    expect(log).not.toContain(SENSITIVE);
  }, 40_000);
});
