/**
 * @module pipelines/http
 * The server's DAG pages and API, as a route module for `createApp({ extensions })`:
 *
 * - pages: `GET /dags` (the DAGs, import errors, a trigger button each), `GET /dags/:dagId`
 *   (tasks, runs, trigger with conf), `POST /dags/:dagId/trigger` (a form with the session's
 *   CSRF token), `GET /dags/:dagId/runs/:runId` (task states), and
 *   `GET /dags/:dagId/runs/:runId/tasks/:taskId/log` (a try's log);
 * - API, in Airflow's stable REST API shape: `GET /api/v1/dags`, `GET /api/v1/dags/{dag_id}`,
 *   `GET|POST /api/v1/dags/{dag_id}/dagRuns`, `GET /api/v1/dags/{dag_id}/dagRuns/{run_id}`,
 *   `GET …/dagRuns/{run_id}/taskInstances`, `GET …/taskInstances/{task_id}/logs/{try}`.
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
import type { AirlockApp, AppDeps, AppEnv, AuthUser, RouteModule } from '../server/context.ts';
import { maskFields, pageOf, paginate } from '../server/routes/_api.ts';
import { h } from '../server/ui/html.ts';
import { csrfField, layout, page } from '../server/ui/pages.ts';
import {
  airflowParams,
  asTriggerHttpError,
  logContinuationToken,
  logPosition,
  type PipelineApi,
  selectRuns,
} from '../server/v2/dags.ts';
import { registerPipelinesV2 } from '../server/v2/pipeline-routes.ts';
import { isValidId } from './dag.ts';
import { parseConf } from './environment.ts';
import { type DagBagInfo, type DagInfo, discoverDagsInChild } from './loader.ts';
import { readTaskLog } from './logs.ts';
import { dagPageBody, runPageBody, stateBadge } from './pages.ts';
import { resolveParams } from './params.ts';
import { type Scheduler, schedulerClock, startScheduler } from './scheduler.ts';
import { loadPipelineSettings, type PipelineSettings } from './settings.ts';
import {
  type DagRunRecord,
  type DagStateRecord,
  PipelineStore,
  type TaskInstanceRecord,
  type XcomRecord,
} from './store.ts';
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

function runJson(
  run: DagRunRecord,
  conf: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  return {
    dag_id: run.dagId,
    dag_run_id: run.runId,
    state: run.state,
    run_type: run.runType,
    logical_date: iso(run.logicalDate),
    execution_date: iso(run.logicalDate),
    queued_at: iso(run.queuedAt),
    start_date: iso(run.startDate),
    end_date: iso(run.endDate),
    data_interval_start: iso(run.dataIntervalStart),
    data_interval_end: iso(run.dataIntervalEnd),
    conf,
    external_trigger: run.runType !== 'scheduled',
    triggered_by: run.triggeredBy,
  };
}

function dagJson(d: DagInfo, state: DagStateRecord | undefined): Record<string, unknown> {
  return {
    dag_id: d.dagId,
    description: d.description,
    fileloc: d.fileloc,
    is_paused: state?.isPaused ?? null,
    is_active: true,
    schedule_interval: d.schedule === null ? null : { __type: 'CronExpression', value: d.schedule },
    timetable_description: d.schedule,
    timezone: d.timezone,
    start_date: iso(d.startDate),
    end_date: iso(d.endDate),
    catchup: d.catchup,
    max_active_runs: d.maxActiveRuns,
    params: airflowParams(d),
    next_dagrun: iso(state?.nextDagrun ?? null),
    next_dagrun_data_interval_start: iso(state?.nextDagrunDataIntervalStart ?? null),
    next_dagrun_data_interval_end: iso(state?.nextDagrunDataIntervalEnd ?? null),
    next_dagrun_create_after: iso(state?.nextDagrunCreateAfter ?? null),
    tags: d.tags.map((name) => ({ name })),
    task_ids: d.tasks.map((t) => t.taskId),
  };
}

function tiJson(ti: TaskInstanceRecord): Record<string, unknown> {
  return {
    dag_id: ti.dagId,
    dag_run_id: ti.runId,
    task_id: ti.taskId,
    state: ti.state,
    try_number: ti.tryNumber,
    max_tries: ti.maxTries - 1,
    start_date: iso(ti.startDate),
    end_date: iso(ti.endDate),
    duration:
      ti.startDate !== null && ti.endDate !== null ? (ti.endDate - ti.startDate) / 1000 : null,
    hostname: ti.hostname,
    pid: ti.pid,
    note: ti.note,
  };
}

function notFound(what: string): AirlockError {
  return new AirlockError('AIRLOCK_ERR_HTTP_NOT_FOUND', what);
}

function enc(text: string): string {
  return encodeURIComponent(text);
}

/** `limit` (1 to 1000, 100 by default, as Airflow's) and `offset` of a list request. */
function limitOffset(c: Context): { limit: number; offset: number } {
  return {
    limit: Math.min(Math.max(Number(c.req.query('limit') ?? 100) || 100, 1), 1000),
    offset: Math.max(Number(c.req.query('offset') ?? 0) || 0, 0),
  };
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
      runId?: string,
      logicalDate?: number,
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

    registerDagApiV1(app, deps, api);
  };
}

/**
 * The logical date a trigger body gives (`logical_date`, or the deprecated `execution_date`;
 * both must agree), in ms; `undefined` for "now".
 */
function logicalDateOf(logical: unknown, execution: unknown): number | undefined {
  const parse = (name: string, value: unknown) => {
    if (value === undefined || value === null) return undefined;
    const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(ms)) {
      throw new AirlockError(
        'AIRLOCK_ERR_HTTP_BAD_REQUEST',
        `\`${name}\` must be an ISO-8601 date-time`,
      );
    }
    return ms;
  };
  const a = parse('logical_date', logical);
  const b = parse('execution_date', execution);
  if (a !== undefined && b !== undefined && a !== b) {
    throw new AirlockError(
      'AIRLOCK_ERR_HTTP_BAD_REQUEST',
      'logical_date and execution_date differ; give one',
    );
  }
  return a ?? b;
}

/**
 * Airflow 2's stable REST API for DAGs (`/api/v1/dags…`): list (paging, `order_by`,
 * `dag_id_pattern`, `tags`, `paused`), get, pause (`PATCH`), runs (`~` for every DAG), trigger
 * (`logical_date` or `execution_date`); the task instance routes in {@link registerTaskApiV1}.
 */
function registerDagApiV1(app: AirlockApp, deps: AppDeps, api: PipelineApi): void {
  const { store, discover, dagOr404, runOr404, trigger } = api;
  // --- API -----------------------------------------------------------------------------------
  app.get('/api/v1/dags', async (c) => {
    const bag = await discover();
    const page = pageOf(c, ['dag_id']);
    const pattern = c.req.query('dag_id_pattern')?.toLowerCase();
    const tags = c.req.queries('tags') ?? [];
    const paused = c.req.query('paused');
    const states = await store.dagStates();
    // A DAG without a row yet (never discovered by a scheduler) starts paused, as the store's.
    const isPaused = (dagId: string) => states.get(dagId)?.isPaused ?? true;
    const dags = bag.dags.filter(
      (d) =>
        (!pattern || d.dagId.toLowerCase().includes(pattern)) &&
        (tags.length === 0 || tags.some((t) => d.tags.includes(t))) &&
        (paused === undefined || isPaused(d.dagId) === (paused === 'true')),
    );
    return c.json({
      dags: paginate(dags, page, (d) => d.dagId).map((d) => dagJson(d, states.get(d.dagId))),
      total_entries: dags.length,
      import_errors: bag.errors.map((e) => ({
        filename: e.file,
        stack_trace: deps.masker.redact(e.message),
      })),
    });
  });
  app.get('/api/v1/dags/:dagId', async (c) => {
    const d = await dagOr404(c.req.param('dagId'));
    return c.json(dagJson(d, await store.dagState(d.dagId)));
  });
  // Airflow's PATCH /dags/{dag_id}: `{"is_paused": true|false}` (`update_mask=is_paused` or none).
  app.patch('/api/v1/dags/:dagId', async (c) => {
    // `is_paused` is the one field Airflow lets a client change.
    maskFields(c.req.queries('update_mask'), ['is_paused']);
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch {
      throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', 'the body is not valid JSON');
    }
    const paused = (body as { is_paused?: unknown } | null)?.is_paused;
    if (typeof paused !== 'boolean') {
      throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', '`is_paused` must be a boolean');
    }
    const state = await api.setPaused(c, c.req.param('dagId'), paused);
    return c.json(dagJson(await dagOr404(state.dagId), state));
  });
  app.get('/api/v1/dags/:dagId/dagRuns', async (c) => {
    const dagId = c.req.param('dagId');
    const limit = Math.min(Math.max(Number(c.req.query('limit') ?? 100) || 100, 1), 1000);
    const offset = Math.max(Number(c.req.query('offset') ?? 0) || 0, 0);
    // Airflow 2's filters, under Airflow 3's names (execution_date is the logical date).
    const q = c.req.query();
    const filters = {
      logical_date_gte: q.execution_date_gte,
      logical_date_lte: q.execution_date_lte,
      start_date_gte: q.start_date_gte,
      start_date_lte: q.start_date_lte,
      end_date_gte: q.end_date_gte,
      end_date_lte: q.end_date_lte,
      state: c.req.queries('state'),
      order_by: q.order_by
        ? [q.order_by.replace(/^(-?)execution_date$/, '$1logical_date')]
        : undefined,
    };
    // `~` lists the runs of every DAG, as Airflow's; without filters the store pages.
    const { runs, total } = Object.values(filters).some((v) => v !== undefined)
      ? await selectRuns(api, dagId, { ...filters, limit, offset })
      : await store.listRuns({ ...(dagId === '~' ? {} : { dagId }), limit, offset });
    const user = c.get('user');
    return c.json({
      dag_runs: runs.map((r) => runJson(r, visibleConf(deps, user, r.conf))),
      total_entries: total,
    });
  });
  app.post('/api/v1/dags/:dagId/dagRuns', async (c) => {
    let body: {
      dag_run_id?: unknown;
      conf?: unknown;
      logical_date?: unknown;
      execution_date?: unknown;
      note?: unknown;
    } = {};
    const text = await c.req.text();
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', 'the body is not valid JSON');
      }
    }
    if (
      body.conf !== undefined &&
      (body.conf === null || typeof body.conf !== 'object' || Array.isArray(body.conf))
    ) {
      throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', '`conf` must be a JSON object');
    }
    if (body.dag_run_id !== undefined && typeof body.dag_run_id !== 'string') {
      throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', '`dag_run_id` must be a string');
    }
    const logicalDate = logicalDateOf(body.logical_date, body.execution_date);
    if (body.note !== undefined && body.note !== null) {
      throw new AirlockError(
        'AIRLOCK_ERR_HTTP_BAD_REQUEST',
        'airlock keeps no notes on DAG runs; trigger without `note`',
      );
    }
    let run: DagRunRecord;
    try {
      run = await trigger(
        c,
        c.req.param('dagId'),
        (body.conf ?? {}) as Record<string, unknown>,
        body.dag_run_id as string | undefined,
        logicalDate,
      );
    } catch (err) {
      throw asTriggerHttpError(err);
    }
    return c.json(runJson(run, visibleConf(deps, c.get('user'), run.conf)));
  });
  app.get('/api/v1/dags/:dagId/dagRuns/:runId', async (c) => {
    const run = await runOr404(c.req.param('dagId'), c.req.param('runId'));
    return c.json(runJson(run, visibleConf(deps, c.get('user'), run.conf)));
  });
  registerTaskApiV1(app, deps, api);
}

/** Airflow XCom entry fields (the value only when one entry is asked for). */
function xcomJson(run: DagRunRecord, x: XcomRecord): Record<string, unknown> {
  return {
    dag_id: x.dagId,
    dag_run_id: x.runId,
    task_id: x.taskId,
    key: x.key,
    map_index: -1,
    timestamp: iso(x.createdAt),
    logical_date: iso(run.logicalDate),
    execution_date: iso(run.logicalDate),
  };
}

/**
 * Airflow 2's task instance operations (`/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/
 * taskInstances…`): list, logs (`continuation_token`) and XCom entries.
 */
function registerTaskApiV1(app: AirlockApp, deps: AppDeps, api: PipelineApi): void {
  const { store, runOr404, tryLog } = api;
  app.get('/api/v1/dags/:dagId/dagRuns/:runId/taskInstances', async (c) => {
    const run = await runOr404(c.req.param('dagId'), c.req.param('runId'));
    const { limit, offset } = limitOffset(c);
    // Paged in SQL, as Airflow's endpoint (limit 100 by default).
    const { instances, total } = await store.listTaskInstances(run.dagId, run.runId, {
      limit,
      offset,
    });
    return c.json({ task_instances: instances.map(tiJson), total_entries: total });
  });
  app.get('/api/v1/dags/:dagId/dagRuns/:runId/taskInstances/:taskId/logs/:try', async (c) => {
    const { text } = await tryLog(
      c.req.param('dagId'),
      c.req.param('runId'),
      c.req.param('taskId'),
      c.req.param('try'),
    );
    if (text === undefined) throw notFound('no log for this try on this server');
    const lines = deps.masker
      .redact(text)
      .split('\n')
      .filter((l) => l !== '');
    const from = c.req.query('full_content') === 'true' ? 0 : logPosition(c.req.query('token'));
    if ((c.req.header('accept') ?? '').startsWith('text/plain')) {
      return c.text(
        lines
          .slice(from)
          .map((l) => `${l}\n`)
          .join(''),
      );
    }
    return c.json({
      content: lines
        .slice(from)
        .map((l) => `${l}\n`)
        .join(''),
      continuation_token: logContinuationToken(lines.length, true),
    });
  });
  // Airflow's XCom entries: a task's return value is `return_value` (masked when stored).
  app.get('/api/v1/dags/:dagId/dagRuns/:runId/taskInstances/:taskId/xcomEntries', async (c) => {
    const run = await runOr404(c.req.param('dagId'), c.req.param('runId'));
    const entries = await store.xcoms(run.dagId, run.runId, { taskIds: [c.req.param('taskId')] });
    return c.json({
      xcom_entries: entries.map((x) => xcomJson(run, x)),
      total_entries: entries.length,
    });
  });
  app.get(
    '/api/v1/dags/:dagId/dagRuns/:runId/taskInstances/:taskId/xcomEntries/:xcomKey',
    async (c) => {
      const run = await runOr404(c.req.param('dagId'), c.req.param('runId'));
      const [entry] = await store.xcoms(run.dagId, run.runId, {
        taskIds: [c.req.param('taskId')],
        key: c.req.param('xcomKey'),
      });
      if (!entry) {
        throw notFound(`no XCom entry \`${c.req.param('xcomKey')}\` for this task and run`);
      }
      return c.json({
        ...xcomJson(run, entry),
        value: deps.masker.redactValue(entry.value, entry.key),
      });
    },
  );
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
