/**
 * @module pipelines/http
 * The server's DAG pages and API, as a route module for `createApp({ extensions })`:
 *
 * - pages: `GET /dags` (the DAGs, import errors, a trigger button each), `GET /dags/:dagId`
 *   (tasks, runs, trigger with conf), `POST /dags/:dagId/trigger` (a form with the session's
 *   CSRF token), `GET /dags/:dagId/runs/:runId` (task states), and
 *   `GET /dags/:dagId/runs/:runId/tasks/:taskId/log` (a try's log);
 * - API: Airflow 2's stable REST API for DAGs, runs, task instances, logs, XCom entries and
 *   import errors (`server/v1/dags.ts`, `server/v1/task-instances.ts`) and Airflow 3's
 *   (`server/v2/`), both over the {@link PipelineApi} this module lends them.
 *
 * DAG files are loaded in a supervised child process (never in the server; see `supervisor.ts`),
 * its import errors masked before they are kept, and the result cached for a few seconds. Runs
 * are queued in the metastore; workers (`airlock worker`, or one the server starts with
 * {@link startServerWorker}) run them. Triggering needs the `write` permission; reading needs a
 * signed-in user (logs are masked when written).
 */
import type { Context } from 'hono';
import { loadConfig } from '../config/load-config.ts';
import { AirlockError } from '../errors.ts';
import { requireAuth } from '../server/auth/middleware.ts';
import { can, requirePermission } from '../server/auth/roles.ts';
import type { AppDeps, AppEnv, AuthUser, RouteModule } from '../server/context.ts';
import { h } from '../server/ui/html.ts';
import { csrfField, layout, page } from '../server/ui/pages.ts';
import { registerDagApiV1 } from '../server/v1/dags.ts';
import type { PipelineApi, TriggerOptions } from '../server/v2/dags.ts';
import { registerPipelinesV2 } from '../server/v2/pipeline-routes.ts';
import { isValidId } from './dag.ts';
import { parseConf } from './environment.ts';
import { type DagBagInfo, type DagInfo, discoverDagsInChild } from './loader.ts';
import { readTaskLog } from './logs.ts';
import { dagPageBody, runPageBody, stateBadge } from './pages.ts';
import { resolveParams } from './params.ts';
import { type Scheduler, schedulerClock, startScheduler } from './scheduler.ts';
import { loadPipelineSettings, type PipelineSettings } from './settings.ts';
import { type DagRunRecord, PipelineStore, type TaskInstanceRecord } from './store.ts';
import { supervisorLookups } from './supervisor.ts';
import { startWorker, type Worker } from './worker.ts';

/** The navigation entry for the DAG pages (`createApp({ navigation })`). */
export const PIPELINE_NAVIGATION = Object.freeze([{ href: '/dags', label: 'DAGs' }]);

const CACHE_MS = 3000;

/** Options of {@link createPipelineRoutes}. */
export interface PipelineRoutesOptions {
  /** How long a DAG discovery is reused, in ms. @default 3000 */
  cacheMs?: number;
  /** Told when a run is queued (an in-process worker's `wake`). */
  onTrigger?: () => void;
}

async function settingsOf(deps: AppDeps): Promise<PipelineSettings> {
  const env = await deps.runtime.environment();
  return loadPipelineSettings(env, loadConfig(env).home);
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/**
 * A run's `conf` as `user` may see it: whole for roles that may read secrets; for the others,
 * every value under a sensitive key (`password`, `token`, … — the masker's rule) is `***` and
 * every registered secret is masked (Airflow's `redact`).
 */
function visibleConf(
  deps: AppDeps,
  user: AuthUser,
  conf: Readonly<Record<string, unknown>>,
): Readonly<Record<string, unknown>> {
  return can(user.role, 'read-secrets') ? conf : deps.masker.redactValue(conf);
}

function notFound(what: string): AirlockError {
  return new AirlockError('AIRLOCK_ERR_HTTP_NOT_FOUND', what);
}

function enc(text: string): string {
  return encodeURIComponent(text);
}

/**
 * The log reader of the DAG pages and APIs: the try a request names and its log text.
 */
function createTryLog(
  deps: AppDeps,
  store: PipelineStore,
  runOr404: (dagId: string, runId: string) => Promise<DagRunRecord>,
) {
  /**
   * The try a log request names: a task instance of the run (looked up, never a path built
   * from the request) and a try it has started; anything else is a 404.
   */
  const tryOr404 = async (
    dagId: string,
    runId: string,
    taskId: string,
    tryText: string | undefined,
  ): Promise<{ run: DagRunRecord; ti: TaskInstanceRecord; n: number }> => {
    if (!isValidId(dagId) || !isValidId(taskId)) throw notFound('no such task instance');
    const run = await runOr404(dagId, runId);
    const ti = await store.getTaskInstance(run.dagId, run.runId, taskId);
    if (!ti) throw notFound(`run \`${run.runId}\` has no task \`${taskId}\``);
    const n =
      tryText === undefined ? ti.tryNumber : /^[1-9]\d{0,5}$/.test(tryText) ? Number(tryText) : 0;
    if (n < 1 || n > ti.tryNumber) {
      throw notFound(`task \`${ti.taskId}\` of run \`${run.runId}\` has no such try`);
    }
    return { run, ti, n };
  };
  /** The log of the try a request names (see `tryOr404`); `text` is `undefined` without one. */
  const tryLog = async (dagId: string, runId: string, taskId: string, tryText?: string) => {
    const found = await tryOr404(dagId, runId, taskId, tryText);
    const { logsFolder } = await settingsOf(deps);
    const text = readTaskLog(
      logsFolder,
      found.run.dagId,
      found.run.runId,
      found.ti.taskId,
      found.n,
    );
    return { ...found, text };
  };
  return tryLog;
}

/**
 * The DAG route module.
 *
 * @example
 * ```ts
 * createApp({ metastore, extensions: [createPipelineRoutes()], navigation: PIPELINE_NAVIGATION });
 * ```
 */
export function createPipelineRoutes(options: PipelineRoutesOptions = {}): RouteModule {
  const cacheMs = options.cacheMs ?? CACHE_MS;
  let cached: { folder: string; at: number; bag: Promise<DagBagInfo> } | undefined;

  return (app, deps) => {
    const store = PipelineStore.from(deps.metastore);
    // A DAG file's top-level lookups are answered through the deployment's chain and cache.
    const lookups = supervisorLookups({ metastore: deps.metastore, logger: deps.logger });
    const discover = async (): Promise<DagBagInfo> => {
      const settings = await settingsOf(deps);
      const now = Date.now();
      if (!cached || cached.folder !== settings.dagsFolder || now - cached.at > cacheMs) {
        const env = await deps.runtime.environment();
        // The import errors come back masked with the deployment's secrets (registered in the
        // server's masker when the environment was read) and what the DAG files resolved.
        // What it finds is recorded (pause state, next run), as the scheduler records it.
        const bag = discoverDagsInChild(settings.dagsFolder, {
          env,
          masker: deps.masker,
          lookup: lookups.of(env),
        }).then(async (found) => {
          await store.syncDags(found.dags, {
            now: schedulerClock(env)(),
            pausedAtCreation: settings.pausedAtCreation,
          });
          return found;
        });
        cached = { folder: settings.dagsFolder, at: now, bag };
        bag.catch(() => {
          if (cached?.bag === bag) cached = undefined;
        });
      }
      return cached.bag;
    };
    const dagOr404 = async (dagId: string): Promise<DagInfo> => {
      const d = (await discover()).dags.find((x) => x.dagId === dagId);
      if (!d) throw notFound(`no DAG \`${dagId}\``);
      return d;
    };
    const runOr404 = async (dagId: string, runId: string): Promise<DagRunRecord> => {
      const run = await store.getRun(dagId, runId);
      if (!run) throw notFound(`DAG \`${dagId}\` has no run \`${runId}\``);
      return run;
    };
    const tryLog = createTryLog(deps, store, runOr404);
    const trigger = async (
      c: Context<AppEnv>,
      dagId: string,
      conf: Record<string, unknown>,
      { runId, logicalDate, note }: TriggerOptions = {},
    ): Promise<DagRunRecord> => {
      const user = c.get('user');
      requirePermission(user.role, 'write');
      const d = await dagOr404(dagId);
      resolveParams(d.params, conf);
      const run = await store.createRun({
        dag: d,
        conf,
        triggeredBy: user.username,
        ...(runId === undefined ? {} : { runId }),
        ...(logicalDate === undefined ? {} : { logicalDate }),
        note: note ?? null,
      });
      deps.logger?.info({ dagId, runId: run.runId, user: user.username }, 'DAG run queued');
      options.onTrigger?.();
      return run;
    };

    /** Pauses or unpauses a DAG (editor); unpausing wakes the in-process worker. */
    const setPaused = async (c: Context<AppEnv>, dagId: string, paused: boolean) => {
      const user = c.get('user');
      requirePermission(user.role, 'write');
      const d = await dagOr404(dagId);
      const state = await store.setPaused(d.dagId, paused);
      deps.logger?.info({ dagId: d.dagId, paused, user: user.username }, 'DAG paused state set');
      if (!paused) options.onTrigger?.();
      return state;
    };

    const api: PipelineApi = {
      store,
      discover,
      discoveredAt: () => cached?.at ?? Date.now(),
      dagOr404,
      runOr404,
      tryLog,
      trigger,
      setPaused,
      visibleConf: (user, conf) => visibleConf(deps, user, conf),
    };
    registerPipelinesV2(deps.apiV2, deps, api);

    const auth = requireAuth(deps);
    app.use('/dags', auth);
    app.use('/dags/*', auth);

    // --- pages ---------------------------------------------------------------------------------
    app.get('/dags', async (c) => {
      const bag = await discover();
      const states = await store.dagStates();
      const latest = await Promise.all(
        bag.dags.map(async (d) => (await store.listRuns({ dagId: d.dagId, limit: 1 })).runs[0]),
      );
      const body = h`<table class="data">
<thead><tr><th>DAG</th><th>Schedule</th><th>Next run</th><th>Last run</th><th>Tasks</th><th>Description</th><th></th></tr></thead>
<tbody>${bag.dags.map((d, i) => {
        const state = states.get(d.dagId);
        const paused = state?.isPaused ?? true;
        return h`<tr data-dag="${d.dagId}">
  <td data-label="DAG"><a href="/dags/${enc(d.dagId)}">${d.dagId}</a>${paused ? h` <span class="state state-paused">paused</span>` : ''}</td>
  <td data-label="Schedule"><code>${d.schedule ?? 'None'}</code></td>
  <td data-label="Next run" class="next-run">${state?.nextDagrun == null ? '' : h`<time datetime="${iso(state.nextDagrun)}">${iso(state.nextDagrun)}</time>`}</td>
  <td data-label="Last run">${latest[i] ? h`<a href="/dags/${enc(d.dagId)}/runs/${enc(latest[i].runId)}">${latest[i].runId}</a> ${stateBadge(latest[i].state)}` : ''}</td>
  <td data-label="Tasks">${d.tasks.map((t, i) => h`${i > 0 ? ', ' : ''}<span class="nowrap">${t.taskId}</span>`)}</td>
  <td data-label="Description">${d.description ?? ''}</td>
  <td class="actions"><form method="post" action="/dags/${enc(d.dagId)}/trigger">${csrfField(c.get('user'))}<button type="submit" aria-label="Trigger ${d.dagId}">Trigger</button></form>
  <form method="post" action="/dags/${enc(d.dagId)}/paused">${csrfField(c.get('user'))}<input type="hidden" name="paused" value="${paused ? 'false' : 'true'}"><button type="submit" class="secondary" aria-label="${paused ? 'Unpause' : 'Pause'} ${d.dagId}">${paused ? 'Unpause' : 'Pause'}</button></form></td>
</tr>`;
      })}</tbody></table>
${bag.dags.length === 0 ? h`<p>No DAGs in <code>${bag.folder}</code>.</p>` : ''}
${
  bag.errors.length > 0
    ? h`<h2>Import errors</h2><table class="data"><thead><tr><th>File</th><th>Error</th></tr></thead><tbody>${bag.errors.map(
        (e) => h`<tr><td>${e.file}</td><td><code>${deps.masker.redact(e.message)}</code></td></tr>`,
      )}</tbody></table>`
    : ''
}`;
      return c.html(layout(page(c, deps, 'DAGs'), body));
    });

    app.get('/dags/:dagId', async (c) => {
      const d = await dagOr404(c.req.param('dagId'));
      const { runs } = await store.listRuns({ dagId: d.dagId, limit: 25 });
      const body = dagPageBody({
        dag: d,
        state: await store.dagState(d.dagId),
        runs,
        instances: await store.taskInstancesOfRuns(
          d.dagId,
          runs.map((r) => r.runId),
        ),
        conf: (r) => visibleConf(deps, c.get('user'), r.conf),
        csrf: csrfField(c.get('user')),
      });
      return c.html(layout(page(c, deps, `DAG ${d.dagId}`), body));
    });

    app.post('/dags/:dagId/trigger', async (c) => {
      const dagId = c.req.param('dagId');
      const form = await c.req.parseBody();
      const confText =
        typeof form.conf === 'string' && form.conf.trim() !== '' ? form.conf : undefined;
      let run: DagRunRecord;
      try {
        run = await trigger(c, dagId, parseConf(confText));
      } catch (err) {
        if (
          err instanceof AirlockError &&
          (err.code === 'AIRLOCK_ERR_CLI_USAGE' || err.code === 'AIRLOCK_ERR_DAG_PARAMS_INVALID')
        ) {
          return c.redirect(`/dags/${enc(dagId)}?error=${enc(err.message)}`, 303);
        }
        throw err;
      }
      return c.redirect(
        `/dags/${enc(dagId)}/runs/${enc(run.runId)}?ok=${enc(`Queued run ${run.runId}`)}`,
        303,
      );
    });

    app.post('/dags/:dagId/paused', async (c) => {
      const form = await c.req.parseBody();
      const paused = form.paused !== 'false';
      const state = await setPaused(c, c.req.param('dagId'), paused);
      return c.redirect(`/dags?ok=${enc(`${state.dagId} ${paused ? 'paused' : 'unpaused'}`)}`, 303);
    });

    app.get('/dags/:dagId/runs/:runId', async (c) => {
      const run = await runOr404(c.req.param('dagId'), c.req.param('runId'));
      const body = runPageBody({
        run,
        instances: await store.taskInstances(run.dagId, run.runId),
        conf: visibleConf(deps, c.get('user'), run.conf),
      });
      return c.html(layout(page(c, deps, `Run ${run.runId}`), body));
    });

    app.get('/dags/:dagId/runs/:runId/tasks/:taskId/log', async (c) => {
      const { run, ti, n, text } = await tryLog(
        c.req.param('dagId'),
        c.req.param('runId'),
        c.req.param('taskId'),
        c.req.query('try'),
      );
      const body = h`<p><a href="/dags/${enc(run.dagId)}/runs/${enc(run.runId)}">Back to the run</a> · task <code>${ti.taskId}</code>, try ${n} · ${stateBadge(ti.state)}</p>
<pre class="log" id="log">${text === undefined ? '(no log for this try on this server yet)' : deps.masker.redact(text)}</pre>`;
      return c.html(layout(page(c, deps, `Log: ${ti.taskId}`), body));
    });

    registerDagApiV1(deps, api);
  };
}

/**
 * Starts a scheduler inside the server process (the default on both databases; several servers
 * and schedulers on one PostgreSQL coordinate through row locks). Stop it when the server closes.
 *
 * @example
 * ```ts
 * const scheduler = await startServerScheduler(deps, { onRuns: () => worker.wake() });
 * ```
 */
export async function startServerScheduler(
  deps: AppDeps,
  options: { onRuns?: () => void } = {},
): Promise<Scheduler> {
  const env = await deps.runtime.environment();
  return startScheduler({
    store: PipelineStore.from(deps.metastore),
    settings: await settingsOf(deps),
    env: () => deps.runtime.environment(),
    masker: deps.masker,
    metastore: deps.metastore,
    logger: deps.logger,
    now: schedulerClock(env),
    ...(options.onRuns ? { onRuns: options.onRuns } : {}),
  });
}

/**
 * Starts a worker inside the server process (for a single-machine deployment), whose tasks get
 * the deployment's environment. Stop it with `worker.stop()` when the server closes.
 *
 * @example
 * ```ts
 * const worker = await startServerWorker(deps);
 * ```
 */
export async function startServerWorker(
  deps: AppDeps,
  options: { concurrency?: number } = {},
): Promise<Worker> {
  const settings = await settingsOf(deps);
  return startWorker({
    store: PipelineStore.from(deps.metastore),
    settings,
    env: () => deps.runtime.environment(),
    masker: deps.masker,
    metastore: deps.metastore,
    logger: deps.logger,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
  });
}
