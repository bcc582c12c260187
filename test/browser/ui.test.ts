/**
 * The web UI in a real browser: Debian's Chromium driven by playwright-core, against the built
 * `airlock server` on a fresh home. Screenshots of each page land in `docs/screenshots/`.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  launchChromium,
  SCREENSHOTS,
  type ServerProcess,
  startServerProcess,
} from '../helpers/browser.ts';

const ADMIN_PASSWORD = 'browser-admin-pw1';
const SECRET_SETTING = 'browser-secret-kwargs-4b7e';

let server: ServerProcess | undefined;
let url = '';
let browser: Browser | undefined;
let home = '';

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'airlock-ui-'));
  mkdirSync(SCREENSHOTS, { recursive: true });
  server = await startServerProcess({ AIRLOCK_HOME: home, AIRLOCK_ADMIN_PASSWORD: ADMIN_PASSWORD });
  url = server.url;
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(home, { recursive: true, force: true });
});

async function newPage(width = 1280): Promise<Page> {
  const context = await (browser as Browser).newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(5000);
  return page;
}

async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.goto(`${url}/login`);
  await page.getByLabel('User name', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/variables/);
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

describe('web UI', () => {
  it('signs in, adds a variable and a connection, keeps a secret setting write-only, and refuses a viewer', async () => {
    const page = await newPage();
    page.on('dialog', (d) => d.accept());
    await page.goto(`${url}/login`);
    await shot(page, 'login');
    await signIn(page, 'admin', ADMIN_PASSWORD);

    // A variable.
    await page.getByLabel('Key', { exact: true }).fill('landing_bucket');
    await page.getByLabel('Value', { exact: true }).fill('s3://landing-data');
    await page.getByLabel('Description (optional)', { exact: true }).fill('Where raw files land');
    await page.getByRole('button', { name: 'Add variable' }).click();
    await expect
      .poll(() => page.getByRole('status').textContent())
      .toContain('Added variable landing_bucket');
    const row = page.getByRole('row', { name: /landing_bucket/ });
    expect(await row.textContent()).not.toContain('s3://landing-data');
    await row.getByRole('link', { name: /Reveal/ }).click();
    expect(await page.getByRole('row', { name: /landing_bucket/ }).textContent()).toContain(
      's3://landing-data',
    );
    await page.goto(`${url}/variables`);
    await shot(page, 'variables');

    // A connection, through the per-type form.
    await page.goto(`${url}/connections/new`);
    await page.getByLabel('Conn ID', { exact: true }).fill('warehouse');
    await page.getByLabel('Connection type', { exact: true }).selectOption('postgres');
    await page.getByLabel('Host', { exact: true }).fill('127.0.0.1');
    await page.getByLabel('Port', { exact: true }).fill('1');
    await page.getByLabel('Database', { exact: true }).fill('analytics');
    await page.getByLabel('Login', { exact: true }).fill('etl');
    await page.getByLabel('Password', { exact: true }).fill('warehouse-pw-123');
    await page.getByRole('button', { name: 'Test' }).click();
    await expect
      .poll(() => page.locator('#test-result').textContent())
      .toMatch(/Failed: Cannot reach/);
    await shot(page, 'connection-form');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(/\/connections\?ok=/);
    const connRow = page.getByRole('row', { name: /warehouse/ });
    expect(await connRow.textContent()).toContain('postgres');
    expect(await page.content()).not.toContain('warehouse-pw-123');
    await shot(page, 'connections');

    // A secret deployment setting: write-only.
    await page.goto(`${url}/settings`);
    await page.getByLabel('Name', { exact: true }).fill('AIRFLOW_CONN_REPORTING_DB');
    await page
      .getByLabel('Value', { exact: true })
      .fill(`postgres://report:${SECRET_SETTING}@reports.internal/db`);
    await page.getByLabel(/Secret/).check();
    await page.getByRole('button', { name: 'Save setting' }).click();
    await page.waitForURL(/\/settings\?ok=/);
    const settingRow = page.getByRole('row', { name: /AIRFLOW_CONN_REPORTING_DB/ });
    expect(await settingRow.textContent()).toContain('set (write-only)');
    expect(await page.content()).not.toContain(SECRET_SETTING);
    await shot(page, 'settings');

    // Provenance and health.
    await page.goto(`${url}/which?kind=variable&id=landing_bucket`);
    expect(await page.locator('main').textContent()).toContain('is served by metastore');
    await shot(page, 'provenance');
    // The secret setting feeds the chain at once (the env link serves it), value unseen.
    await page.goto(`${url}/which?kind=connection&id=reporting_db`);
    expect(await page.locator('main').textContent()).toContain('is served by env');
    expect(await page.content()).not.toContain(SECRET_SETTING);
    await page.goto(`${url}/health-status`);
    await shot(page, 'health');

    // A viewer.
    await page.goto(`${url}/users`);
    await page.getByLabel('User name', { exact: true }).fill('vera');
    await page.getByLabel(/^Password/).fill('viewer-pw-123');
    await page.getByLabel('Role', { exact: true }).selectOption('viewer');
    await page.getByRole('button', { name: 'Add user' }).click();
    await page.waitForURL(/\/users\?ok=/);
    await shot(page, 'users');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/login/);

    await signIn(page, 'vera', 'viewer-pw-123');
    expect(await page.content()).not.toContain('s3://landing-data');
    expect(await page.getByRole('link', { name: /Reveal/ }).count()).toBe(0);
    const refused = await page.goto(`${url}/settings`);
    expect(refused?.status()).toBe(403);
    expect(await page.getByRole('alert').textContent()).toContain('viewer role may not');
    const edit = await page.goto(`${url}/connections/edit/warehouse?reveal=1`);
    expect(edit?.status()).toBe(403);
    expect(await page.content()).not.toContain('warehouse-pw-123');
  });

  it('fits a 390px-wide screen', async () => {
    const page = await newPage(390);
    await signIn(page, 'admin', ADMIN_PASSWORD);
    const overflow = await page.evaluate<number>(
      'document.documentElement.scrollWidth - window.innerWidth',
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await shot(page, 'variables-mobile');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
  });
});
