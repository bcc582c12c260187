/**
 * The run view in Debian's Chromium, through `airlock server`: a DAG's grid of recent runs × tasks
 * coloured by state (failed in red), refreshing itself while a run moves and linking to each try's
 * log; the run page's trigger, data interval and conf (sensitive keys redacted for a viewer); no
 * refresh banner once the run has ended; column labels kept at phone width, no word broken
 * mid-word at 1280 px; Airflow 1's `/admin/` landing on the home page.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  launchChromium,
  SCREENSHOTS,
  type ServerProcess,
  startServerProcess,
} from '../helpers/browser.ts';
import { runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const PASSWORD = 'grid-admin-pw1';
const VIEWER_PASSWORD = 'grid-viewer-pw1';
const home = tempDir('airlock-grid-');
mkdirSync(join(home, 'dags'));
writeFileSync(
  join(home, 'dags', 'warehouse.ts'),
  `import { dag, task } from 'airlock';
import { existsSync } from 'node:fs';
dag('warehouse_daily_refresh', { schedule: '@daily', startDate: '2026-01-01T00:00:00Z', description: 'Refreshes the warehouse tables every day' }, () => {
  const extract = task('extract_orders', () => ({ rows: 3 }));
  const check = task('check_holiday', ({ skip }) => skip('not a holiday'), { dependsOn: [extract] });
  const transform = task('transform_orders', ({ dagRun }) => { if (dagRun.conf.fail) throw new Error('bad data'); }, { dependsOn: [extract] });
  task('load_orders', () => {}, { dependsOn: [transform] });
  task('notify_team', () => {}, { dependsOn: [check] });
  // Waits for a file the test writes, so that a run is seen running.
  task('wait_for_export', () => new Promise((resolve) => { const t = setInterval(() => { if (existsSync(process.env.RELEASE_FILE)) { clearInterval(t); resolve(undefined); } }, 100); }));
});
`,
);
const release = join(home, 'release');
const env = {
  AIRLOCK_HOME: home,
  AIRLOCK__CORE__FERNET_KEY: 'zJhyqb8xQzJ4bb8H3xU2dZ_HiVXoOk-mu2d-ZcNkU6U=',
  AIRLOCK_ADMIN_PASSWORD: PASSWORD,
  AIRLOCK__WORKER__POLL_INTERVAL_MS: '100',
  RELEASE_FILE: release,
};
const basic = { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` };

let server: ServerProcess | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  server = await startServerProcess(env);
  const viewer = await runAirlock(
    ['users', 'create', 'vera', '--role', 'viewer', '--password-stdin'],
    { env, input: `${VIEWER_PASSWORD}\n` },
  );
  expect(viewer.code, viewer.stderr).toBe(0);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

async function signIn(user: string, password: string, width = 1280): Promise<Page> {
  const context = await (browser as Browser).newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  await page.goto(`${server?.url}/dags`);
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/dags$/);
  return page;
}

async function trigger(runId: string, conf: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${server?.url}/api/v1/dags/warehouse_daily_refresh/dagRuns`, {
    method: 'POST',
    headers: { ...basic, 'content-type': 'application/json' },
    body: JSON.stringify({ dag_run_id: runId, conf }),
  });
  expect(res.status).toBe(200);
}

async function runState(runId: string): Promise<string> {
  const res = await fetch(
    `${server?.url}/api/v1/dags/warehouse_daily_refresh/dagRuns/${encodeURIComponent(runId)}`,
    { headers: basic },
  );
  return ((await res.json()) as { state: string }).state;
}

/** Words of table cells that the layout split over two lines (a word broken mid-word). */
const BROKEN_WORDS = `(() => {
  const broken = [];
  for (const cell of document.querySelectorAll('th, td')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent;
      for (const m of text.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
        if (lines.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
})()`;

describe('the run view', () => {
  it('shows a grid of runs × tasks coloured by state, refreshing while a run moves', async () => {
    await trigger('manual__good', { note: 'first' });
    await trigger('manual__bad', { fail: true, api_token: 'tok-visible-to-editors-only' });
    // Everything but wait_for_export has ended in both runs.
    await waitFor(async () => {
      const res = await fetch(
        `${server?.url}/api/v1/dags/warehouse_daily_refresh/dagRuns/manual__bad/taskInstances`,
        { headers: basic },
      );
      const tis = ((await res.json()) as { task_instances: { state: string }[] }).task_instances;
      const good = await fetch(
        `${server?.url}/api/v1/dags/warehouse_daily_refresh/dagRuns/manual__good/taskInstances`,
        { headers: basic },
      );
      const goodTis = ((await good.json()) as { task_instances: { state: string }[] })
        .task_instances;
      const moving = [...tis, ...goodTis].filter((t) => !/success|failed|skipped/.test(t.state));
      return moving.length === 2 && moving.every((t) => t.state === 'running') ? true : undefined;
    });
    const page = await signIn('admin', PASSWORD);
    await page.goto(`${server?.url}/dags/warehouse_daily_refresh`);
    const cell = (task: string, run: string) =>
      page.locator(`#grid tr[data-task="${task}"] td[data-label="${run}"]`);
    await expect
      .poll(async () => cell('transform_orders', 'manual__bad').getAttribute('data-state'), {
        timeout: 20_000,
      })
      .toBe('failed');
    // A run is still moving (wait_for_export): the page refreshes itself, without its query.
    const refresh = page.locator('meta[http-equiv="refresh"]');
    expect(await refresh.getAttribute('content')).toBe('3;url=/dags/warehouse_daily_refresh');
    await expect
      .poll(() => cell('wait_for_export', 'manual__bad').getAttribute('data-state'))
      .toBe('running');
    expect(await cell('extract_orders', 'manual__good').getAttribute('data-state')).toBe('success');
    expect(await cell('check_holiday', 'manual__good').getAttribute('data-state')).toBe('skipped');
    expect(await cell('notify_team', 'manual__good').getAttribute('data-state')).toBe('skipped');
    expect(await cell('load_orders', 'manual__bad').getAttribute('data-state')).toBe(
      'upstream_failed',
    );
    // Failed is red, success green: the colours differ at a glance.
    const colour = (task: string, run: string) =>
      cell(task, run)
        .locator('.cell')
        .evaluate(
          (el) =>
            (
              globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }
            ).getComputedStyle(el).backgroundColor,
        );
    expect(await colour('transform_orders', 'manual__bad')).toBe('rgb(217, 48, 37)');
    expect(await colour('extract_orders', 'manual__bad')).toBe('rgb(46, 155, 75)');
    expect(await colour('check_holiday', 'manual__bad')).not.toBe(
      await colour('wait_for_export', 'manual__bad'),
    );
    // Each square links to its try's log.
    const href = await cell('transform_orders', 'manual__bad').locator('a').getAttribute('href');
    expect(href).toBe(
      '/dags/warehouse_daily_refresh/runs/manual__bad/tasks/transform_orders/log?try=1',
    );
    await shot(page, 'dag-grid');
    await cell('transform_orders', 'manual__bad').locator('a').click();
    await page.waitForURL(/\/log\?try=1$/);
    expect(await page.locator('#log').textContent()).toContain('Error: bad data');
    expect(await page.evaluate<string[]>(BROKEN_WORDS)).toEqual([]);
  }, 60_000);

  it('shows a run: trigger, data interval, conf redacted for a viewer, no banner once ended', async () => {
    writeFileSync(release, '');
    await waitFor(async () => ((await runState('manual__bad')) === 'failed' ? true : undefined));
    await waitFor(async () => ((await runState('manual__good')) === 'success' ? true : undefined));
    const admin = await signIn('admin', PASSWORD);
    await admin.goto(`${server?.url}/dags/warehouse_daily_refresh/runs/manual__bad?ok=Queued`);
    expect(await admin.locator('#run-trigger').textContent()).toBe('manual by admin');
    expect(await admin.locator('#data-interval').textContent()).toMatch(/^\d{4}-.*Z – \d{4}-.*Z$/);
    expect(await admin.locator('#conf').textContent()).toContain('tok-visible-to-editors-only');
    // Ended: no self-refresh and no "refreshing" note.
    expect(await admin.locator('meta[http-equiv="refresh"]').count()).toBe(0);
    expect(await admin.locator('#refreshing').count()).toBe(0);
    await shot(admin, 'dag-run-detail');
    expect(await admin.evaluate<string[]>(BROKEN_WORDS)).toEqual([]);
    for (const path of ['/dags/warehouse_daily_refresh', '/dags']) {
      await admin.goto(`${server?.url}${path}`);
      expect(await admin.locator('meta[http-equiv="refresh"]').count()).toBe(0);
      expect(await admin.evaluate<string[]>(BROKEN_WORDS), path).toEqual([]);
    }

    const viewer = await signIn('vera', VIEWER_PASSWORD);
    await viewer.goto(`${server?.url}/dags/warehouse_daily_refresh/runs/manual__bad`);
    const conf = (await viewer.locator('#conf').textContent()) ?? '';
    expect(JSON.parse(conf)).toEqual({ fail: true, api_token: '***' });
    expect(await viewer.content()).not.toContain('tok-visible-to-editors-only');
  }, 60_000);

  it('keeps column labels at phone width (375 px) without overflowing', async () => {
    const page = await signIn('admin', PASSWORD, 375);
    for (const path of [
      '/dags',
      '/dags/warehouse_daily_refresh',
      '/dags/warehouse_daily_refresh/runs/manual__bad',
    ]) {
      await page.goto(`${server?.url}${path}`);
      const unlabelled = await page.evaluate<number>(
        `[...document.querySelectorAll('table.data td')].filter((td) => !getComputedStyle(td, '::before').content.replace(/^"|"$/g, '')).length`,
      );
      expect(unlabelled, path).toBe(0);
      expect(
        await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth'),
        path,
      ).toBeLessThanOrEqual(0);
    }
    await page.goto(`${server?.url}/dags/warehouse_daily_refresh/runs/manual__bad`);
    const label = await page
      .locator('tr[data-task="transform_orders"] td')
      .nth(1)
      .evaluate(
        (td) =>
          (
            globalThis as unknown as {
              getComputedStyle(e: unknown, p: string): { content: string };
            }
          ).getComputedStyle(td, '::before').content,
      );
    expect(label).toBe('"State"');
    await shot(page, 'dag-run-mobile');
  }, 40_000);

  it('sends Airflow 1’s /admin/ to the home page', async () => {
    const page = await signIn('admin', PASSWORD);
    await page.goto(`${server?.url}/admin/`);
    expect(new URL(page.url()).pathname).toBe('/variables');
    const res = await fetch(`${server?.url}/admin/`, { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('/');
  }, 30_000);
});
