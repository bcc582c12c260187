/**
 * @module pipelines/pages
 * The bodies of the DAG page (its schedule, a grid of recent runs × tasks coloured by state with a
 * link to each try's log, the runs) and the run page (its trigger, data interval, conf and task
 * states), rendered on the server. While a run is queued or running the page refreshes itself
 * (`<meta http-equiv="refresh">`, allowed by the CSP, which forbids inline scripts) to its own
 * URL without the one-time flash message; once every run shown has ended it stops.
 * Every table cell carries its column's label (`data-label`), shown beside the value when the
 * table stacks at phone width.
 */
import { h, type Safe } from '../server/ui/html.ts';
import type { DagInfo } from './loader.ts';
import type { DagRunRecord, DagStateRecord, TaskInstanceRecord } from './store.ts';

/** The states a run is still moving in. */
const ACTIVE_RUN = new Set(['queued', 'running']);
/** The task states the legend explains, in the order a task goes through them. */
const LEGEND = [
  'queued',
  'running',
  'success',
  'failed',
  'up_for_retry',
  'upstream_failed',
  'skipped',
  'none',
] as const;

function iso(ms: number | null): string {
  return ms === null ? '' : new Date(ms).toISOString();
}

/** A time that never wraps inside itself. */
function time(ms: number | null): Safe | string {
  return ms === null ? '' : h`<time datetime="${iso(ms)}">${iso(ms)}</time>`;
}

/** JSON on one line with a space after each `,` and `:`, so that it wraps between its parts. */
function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 1).replace(/\n\s*/g, ' ');
}

function enc(text: string): string {
  return encodeURIComponent(text);
}

/** A state as a coloured badge. */
export function stateBadge(state: string | null): Safe {
  return h`<span class="state state-${state ?? 'none'}">${state ?? 'none'}</span>`;
}

/** The refresh of a page that shows a run still moving: to `url` (without its query). */
function refresh(url: string, seconds: number): Safe {
  return h`<meta http-equiv="refresh" content="${seconds};url=${url}">`;
}

/** The link to try `n`'s log. */
export function logHref(dagId: string, runId: string, taskId: string, n: number): string {
  return `/dags/${enc(dagId)}/runs/${enc(runId)}/tasks/${enc(taskId)}/log?try=${n}`;
}

/** The data for {@link dagPageBody}. */
export interface DagPageData {
  readonly dag: DagInfo;
  readonly state: DagStateRecord | undefined;
  /** Newest first. */
  readonly runs: readonly DagRunRecord[];
  /** The task instances of `runs`, by run id. */
  readonly instances: ReadonlyMap<string, readonly TaskInstanceRecord[]>;
  /** A run's conf as the user may see it (see `visibleConf`). */
  readonly conf: (run: DagRunRecord) => Readonly<Record<string, unknown>>;
  /** The trigger form's CSRF field. */
  readonly csrf: Safe;
}

function grid(data: DagPageData): Safe {
  const { dag } = data;
  // Oldest on the left, as Airflow's grid.
  const runs = [...data.runs].reverse();
  if (runs.length === 0) return h`<p class="muted">No runs yet.</p>`;
  return h`<div class="table-wrap"><table class="runs-grid" id="grid">
<caption>Recent runs (oldest on the left) × tasks: each square is a task's state in that run and links to its last try's log</caption>
<thead><tr><th scope="col">Task</th>${runs.map(
    (r) =>
      h`<th scope="col"><a href="/dags/${enc(dag.dagId)}/runs/${enc(r.runId)}" title="${r.runId}: ${r.state}" aria-label="run ${r.runId}: ${r.state}"><span class="cell state-${r.state}"></span></a></th>`,
  )}</tr></thead>
<tbody>${dag.tasks.map((t) => {
    return h`<tr data-task="${t.taskId}"><th scope="row">${t.taskId}</th>${runs.map((r) => {
      const ti = data.instances.get(r.runId)?.find((x) => x.taskId === t.taskId);
      const state = ti?.state ?? null;
      const label = `${t.taskId} in ${r.runId}: ${state ?? 'no status'}`;
      const square = h`<span class="cell state-${state ?? 'none'}"><span class="sr-only">${state ?? 'none'}</span></span>`;
      return h`<td data-label="${r.runId}" data-state="${state ?? 'none'}">${
        ti && ti.tryNumber > 0
          ? h`<a href="${logHref(dag.dagId, r.runId, t.taskId, ti.tryNumber)}" title="${label}" aria-label="${label}">${square}</a>`
          : h`<span title="${label}">${square}</span>`
      }</td>`;
    })}</tr>`;
  })}</tbody></table></div>
<ul class="legend" aria-label="Colours">${LEGEND.map(
    (s) => h`<li><span class="cell state-${s}"></span>${s === 'none' ? 'no status' : s}</li>`,
  )}</ul>`;
}

/** The DAG page's body. */
export function dagPageBody(data: DagPageData): Safe {
  const { dag, state } = data;
  const active = data.runs.some((r) => ACTIVE_RUN.has(r.state));
  return h`${active ? refresh(`/dags/${enc(dag.dagId)}`, 3) : ''}
<dl class="facts">
  <dt>Schedule</dt><dd><code>${dag.schedule ?? 'None'}</code>${dag.schedule ? h` (${dag.timezone}, catchup ${dag.catchup ? 'on' : 'off'})` : ''}</dd>
  <dt>State</dt><dd>${state?.isPaused === false ? 'active' : 'paused'}</dd>
  <dt>Next run</dt><dd id="next-run">${state?.nextDagrun == null ? 'none' : h`${time(state.nextDagrun)} (data interval ${time(state.nextDagrunDataIntervalStart)} – ${time(state.nextDagrunDataIntervalEnd)})`}</dd>
  <dt>File</dt><dd><code>${dag.fileloc}</code></dd>
  ${dag.description ? h`<dt>Description</dt><dd>${dag.description}</dd>` : ''}
</dl>
${active ? h`<p class="muted" id="refreshing">A run is in progress: this page refreshes every 3 s.</p>` : ''}
<h2>Grid</h2>
${grid(data)}
<h2>Runs</h2>
<div class="table-wrap"><table class="data"><thead><tr><th>Run</th><th>State</th><th>Type</th><th>Data interval</th><th>Queued</th><th>Ended</th><th>Conf</th></tr></thead>
<tbody>${data.runs.map(
    (r) =>
      h`<tr><td data-label="Run"><a href="/dags/${enc(dag.dagId)}/runs/${enc(r.runId)}">${r.runId}</a></td><td data-label="State">${stateBadge(r.state)}</td><td data-label="Type">${r.runType}</td><td data-label="Data interval">${time(r.dataIntervalStart)} – ${time(r.dataIntervalEnd)}</td><td data-label="Queued">${time(r.queuedAt)}</td><td data-label="Ended">${time(r.endDate)}</td><td data-label="Conf"><code class="conf">${jsonText(data.conf(r))}</code></td></tr>`,
  )}</tbody></table></div>
<h2>Tasks</h2>
<div class="table-wrap"><table class="data"><thead><tr><th>Task</th><th>Upstream</th><th>Trigger rule</th><th>Retries</th><th>Timeout</th></tr></thead>
<tbody>${dag.tasks.map(
    (t) =>
      h`<tr><td data-label="Task">${t.taskId}</td><td data-label="Upstream">${t.upstream.join(', ')}</td><td data-label="Trigger rule">${t.triggerRule}</td><td data-label="Retries">${t.retries}</td><td data-label="Timeout">${t.timeoutSeconds === null ? '' : `${t.timeoutSeconds}s`}</td></tr>`,
  )}</tbody></table></div>
<h2>Trigger</h2>
<form method="post" action="/dags/${enc(dag.dagId)}/trigger" class="card">
  ${data.csrf}
  <label for="conf">Conf (JSON object, optional)</label>
  <textarea id="conf" name="conf" rows="3" placeholder="{}"></textarea>
  <button type="submit">Trigger</button>
</form>`;
}

/** The data for {@link runPageBody}. */
export interface RunPageData {
  readonly run: DagRunRecord;
  readonly instances: readonly TaskInstanceRecord[];
  /** The run's conf as the user may see it. */
  readonly conf: Readonly<Record<string, unknown>>;
}

/** The run page's body. */
export function runPageBody({ run, instances, conf }: RunPageData): Safe {
  const active = ACTIVE_RUN.has(run.state);
  const self = `/dags/${enc(run.dagId)}/runs/${enc(run.runId)}`;
  const trigger =
    run.runType === 'scheduled'
      ? 'the scheduler'
      : `${run.runType}${run.triggeredBy ? ` by ${run.triggeredBy}` : ''}`;
  return h`${active ? refresh(self, 2) : ''}
<dl class="facts">
  <dt>DAG</dt><dd><a href="/dags/${enc(run.dagId)}">${run.dagId}</a></dd>
  <dt>State</dt><dd id="run-state">${stateBadge(run.state)}</dd>
  <dt>Triggered</dt><dd id="run-trigger">${trigger}</dd>
  <dt>Logical date</dt><dd>${time(run.logicalDate)}</dd>
  <dt>Data interval</dt><dd id="data-interval">${time(run.dataIntervalStart)} – ${time(run.dataIntervalEnd)}</dd>
  <dt>Queued</dt><dd>${time(run.queuedAt)}</dd>
  <dt>Started</dt><dd>${time(run.startDate)}</dd>
  <dt>Ended</dt><dd>${time(run.endDate)}</dd>
  <dt>Conf</dt><dd><code id="conf">${jsonText(conf)}</code></dd>
</dl>
${active ? h`<p class="muted" id="refreshing">The run is ${run.state}: this page refreshes every 2 s.</p>` : ''}
<div class="table-wrap"><table class="data"><thead><tr><th>Task</th><th>State</th><th>Try</th><th>Started</th><th>Ended</th><th>Log</th></tr></thead>
<tbody>${instances.map(
    (ti) =>
      h`<tr data-task="${ti.taskId}"><td data-label="Task">${ti.taskId}</td><td data-label="State">${stateBadge(ti.state)}</td><td data-label="Try">${ti.tryNumber}/${ti.maxTries}</td><td data-label="Started">${time(ti.startDate)}</td><td data-label="Ended">${time(ti.endDate)}</td><td data-label="Log">${Array.from(
        { length: ti.tryNumber },
        (_, i) => h`<a href="${logHref(run.dagId, run.runId, ti.taskId, i + 1)}">log ${i + 1}</a> `,
      )}${ti.note ? h` <small>${ti.note}</small>` : ''}</td></tr>`,
  )}</tbody></table></div>`;
}
