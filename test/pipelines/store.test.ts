import { afterAll, describe, expect, it } from 'vitest';
import { Fernet, parseFernetKeys } from '../../src/metastore/fernet.ts';
import { Metastore } from '../../src/metastore/metastore.ts';
import type { DagInfo } from '../../src/pipelines/loader.ts';
import { PipelineStore } from '../../src/pipelines/store.ts';
import { testDagInfo, testTaskInfo } from '../helpers/dag-info.ts';
import { postgresDatabases, sqliteDatabases, type TestDatabases } from '../metastore/_databases.ts';

function info(
  tasks: { id: string; up?: string[]; retries?: number; delay?: number }[],
  dagId = 'etl',
): DagInfo {
  return testDagInfo(
    dagId,
    tasks.map((t) =>
      testTaskInfo(t.id, {
        upstream: t.up ?? [],
        retries: t.retries ?? 0,
        retryDelaySeconds: t.delay ?? 0,
      }),
    ),
  );
}

function suite(name: string, make: () => TestDatabases) {
  describe(`PipelineStore (${name})`, () => {
    const dbs = make();
    const opened: Metastore[] = [];
    afterAll(async () => {
      await Promise.all(opened.map((m) => m.close()));
      await dbs.dispose();
    });
    const open = async () => {
      const db = await dbs.create();
      const a = await Metastore.open({ url: db.url });
      const b = await Metastore.open({ url: db.url });
      opened.push(a, b);
      return { a: PipelineStore.from(a), b: PipelineStore.from(b) };
    };

    it('encrypts conf with the Fernet keys and re-encrypts it on a key rotation', async () => {
      const db = await dbs.create();
      const oldKey = Fernet.generateKey();
      const newKey = Fernet.generateKey();
      const m = await Metastore.open({ url: db.url, keys: parseFernetKeys(oldKey) });
      opened.push(m);
      const s = PipelineStore.from(m);
      await s.createRun({ dag: info([{ id: 'a' }]), runId: 'r1', conf: { token: 'x-secret-1' } });
      m.useKeys(parseFernetKeys(`${newKey},${oldKey}`));
      expect((await m.rotateFernetKeys()).dagRunConfs).toBe(1);
      m.useKeys(parseFernetKeys(newKey));
      expect((await s.getRun('etl', 'r1'))?.conf).toEqual({ token: 'x-secret-1' });
      m.useKeys(parseFernetKeys(oldKey));
      const err = await s.getRun('etl', 'r1').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID' });
      expect(String((err as Error).message)).not.toContain('x-secret-1');
    });

    it('keeps each try of a task instance, and a note on the run', async () => {
      const { a } = await open();
      const dag = info([{ id: 't', retries: 1 }]);
      const created = await a.createRun({ dag, runId: 'n1', note: 'by ops' });
      expect(created.note).toBe('by ops');
      expect((await a.setRunNote('etl', 'n1', 'changed'))?.note).toBe('changed');
      expect((await a.setRunNote('etl', 'n1', null))?.note).toBe(null);
      expect(await a.setRunNote('etl', 'missing', 'x')).toBeUndefined();

      const t0 = Date.now();
      const one = await a.claimNext('w:1', { runId: 'n1', now: t0, pid: 11 });
      if (!one) throw new Error('no claim');
      await a.finishTry(one, { success: false, exitCode: 3 }, t0 + 100);
      const two = await a.claimNext('w:1', { runId: 'n1', now: t0 + 1000, pid: 22 });
      if (!two) throw new Error('no second claim');
      const during = await a.taskTries(two);
      expect(during.map((x) => [x.tryNumber, x.state, x.pid])).toEqual([
        [1, 'up_for_retry', 11],
        [2, 'running', 22],
      ]);
      expect(during[0]).toMatchObject({ startDate: t0, endDate: t0 + 100 });
      await a.finishTry(two, { success: true }, t0 + 1100);
      // Cleared after it ran: the row waits for try 3, and try 2 is in the history.
      await a.clearTasks('etl', 'n1', ['t'], () => 1, t0 + 2000);
      const ti = await a.getTaskInstance('etl', 'n1', 't');
      if (!ti) throw new Error('no task instance');
      expect((await a.taskTries(ti)).map((x) => [x.tryNumber, x.state, x.endDate])).toEqual([
        [1, 'up_for_retry', t0 + 100],
        [2, 'success', t0 + 1100],
      ]);
      expect(await a.deleteRun('etl', 'n1')).toBe(true);
      await a.createRun({ dag, runId: 'n1' });
      const fresh = await a.getTaskInstance('etl', 'n1', 't');
      expect(fresh && (await a.taskTries(fresh))).toEqual([]);
    });

    it('creates a run with its roots queued and the rest waiting', async () => {
      const { a } = await open();
      const run = await a.createRun({
        dag: info([{ id: 'x' }, { id: 'y', up: ['x'] }]),
        now: 1000,
      });
      expect(run).toMatchObject({ dagId: 'etl', state: 'queued', runType: 'manual' });
      expect(run.runId).toBe('manual__1970-01-01T00:00:01.000Z');
      const tis = await a.taskInstances('etl', run.runId);
      expect(tis.map((t) => [t.taskId, t.state])).toEqual([
        ['x', 'queued'],
        ['y', null],
      ]);
      await expect(
        a.createRun({ dag: info([{ id: 'x' }]), runId: run.runId }),
      ).rejects.toMatchObject({ code: 'AIRLOCK_ERR_STORE_CONFLICT' });
    });

    it('hands each queued task to one worker only, even when two claim at once', async () => {
      const { a, b } = await open();
      const dag = info(Array.from({ length: 6 }, (_, i) => ({ id: `t${i}` })));
      await a.createRun({ dag, runId: 'r1' });
      const claims = await Promise.all(
        Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).claimNext(`w${i}`, { runId: 'r1' })),
      );
      const got = claims.filter((c) => c !== undefined).map((c) => c.taskId);
      expect(got.sort()).toEqual(['t0', 't1', 't2', 't3', 't4', 't5']);
      const run = await a.getRun('etl', 'r1');
      expect(run?.state).toBe('running');
    });

    it('ends a wide run exactly once when its tries finish at once, whatever their outcome', async () => {
      const { a, b } = await open();
      const dag = info(Array.from({ length: 24 }, (_, i) => ({ id: `t${i}` })));
      await a.createRun({ dag, runId: 'wide' });
      const claimed = await Promise.all(
        Array.from({ length: 24 }, (_, i) => (i % 2 ? a : b).claimNext(`w${i}`, { runId: 'wide' })),
      );
      const tis = claimed.filter((c) => c !== undefined);
      expect(tis).toHaveLength(24);
      // Successes, skips and one final failure, reported by both stores at once.
      const reports = await Promise.all(
        tis.map((ti, i) =>
          (i % 2 ? a : b).finishTry(
            ti,
            i === 5 ? { success: false, retry: false } : { success: true, skipped: i % 3 === 0 },
          ),
        ),
      );
      expect(reports.filter((r) => r.runState === 'failed')).toHaveLength(1);
      expect(reports.filter((r) => r.runState === 'running')).toHaveLength(23);
      expect((await a.getRun('etl', 'wide'))?.state).toBe('failed');
      const states = (await a.taskInstances('etl', 'wide')).map((t) => t.state);
      expect(states.filter((s) => s === 'skipped')).toHaveLength(8);
      expect(states.filter((s) => s === 'failed')).toHaveLength(1);
      expect(states.filter((s) => s === 'success')).toHaveLength(15);
      // A second report of a finished try changes nothing.
      const again = await a.finishTry(tis[0] as (typeof tis)[number], { success: true });
      expect(again).toMatchObject({ state: undefined, runState: undefined });
    });

    it('queues a task when all its upstream tasks succeed, and settles the run', async () => {
      const { a } = await open();
      const dag = info([{ id: 'x' }, { id: 'y' }, { id: 'z', up: ['x', 'y'] }]);
      await a.createRun({ dag, runId: 'r' });
      const x = await a.claimNext('w', { runId: 'r' });
      const y = await a.claimNext('w', { runId: 'r' });
      expect(await a.claimNext('w', { runId: 'r' })).toBeUndefined();
      if (!x || !y) throw new Error('expected two claims');
      expect((await a.finishTry(x, { success: true })).queued).toEqual([]);
      expect((await a.finishTry(y, { success: true })).queued).toEqual(['z']);
      const z = await a.claimNext('w', { runId: 'r' });
      expect(z?.taskId).toBe('z');
      if (!z) throw new Error('expected z');
      const report = await a.finishTry(z, { success: true });
      expect(report.runState).toBe('success');
      expect((await a.getRun('etl', 'r'))?.endDate).not.toBeNull();
    });

    it('retries after the delay, then fails and marks the tasks after it upstream_failed', async () => {
      const { a } = await open();
      const dag = info([
        { id: 'x', retries: 1, delay: 60 },
        { id: 'y', up: ['x'] },
        { id: 'z', up: ['y'] },
      ]);
      await a.createRun({ dag, runId: 'r', now: 0 });
      const first = await a.claimNext('w', { runId: 'r', now: 10 });
      if (!first) throw new Error('expected a claim');
      expect(first.tryNumber).toBe(1);
      expect((await a.finishTry(first, { success: false, exitCode: 1 }, 20)).state).toBe(
        'up_for_retry',
      );
      expect(await a.claimNext('w', { runId: 'r', now: 30 })).toBeUndefined();
      const second = await a.claimNext('w', { runId: 'r', now: 20 + 60_000 });
      expect(second?.tryNumber).toBe(2);
      if (!second) throw new Error('expected the retry');
      const report = await a.finishTry(second, { success: false, exitCode: 1 });
      expect(report).toMatchObject({
        state: 'failed',
        upstreamFailed: ['y', 'z'],
        runState: 'failed',
      });
    });

    it('marks a try whose heartbeat is stale failed, and ignores the late report of its worker', async () => {
      const { a, b } = await open();
      await a.createRun({ dag: info([{ id: 'x', retries: 3 }]), runId: 'r', now: 0 });
      const ti = await a.claimNext('dead-worker', { runId: 'r', now: 0 });
      if (!ti) throw new Error('expected a claim');
      await a.heartbeat('dead-worker', [ti.id], 5_000);
      expect(await b.reapStale(60_000, 30_000)).toEqual([]);
      const reaped = await b.reapStale(60_000, 70_000);
      expect(reaped.map((t) => t.taskId)).toEqual(['x']);
      const after = await b.getTaskInstance('etl', 'r', 'x');
      expect(after).toMatchObject({ state: 'failed' });
      expect(after?.note).toMatch(/no heartbeat from worker dead-worker/);
      expect((await b.getRun('etl', 'r'))?.state).toBe('failed');
      expect((await a.finishTry(ti, { success: true })).state).toBeUndefined();
    });

    it('lists runs newest first and rejects a run_id that is not a path segment', async () => {
      const { a } = await open();
      await a.createRun({ dag: info([{ id: 'x' }], 'd1'), runId: 'one', now: 1 });
      await a.createRun({ dag: info([{ id: 'x' }], 'd1'), runId: 'two', now: 2 });
      const { runs, total } = await a.listRuns({ dagId: 'd1' });
      expect(runs.map((r) => r.runId)).toEqual(['two', 'one']);
      expect(total).toBe(2);
      await expect(
        a.createRun({ dag: info([{ id: 'x' }], 'd1'), runId: '..' }),
      ).rejects.toMatchObject({ code: 'AIRLOCK_ERR_CLI_USAGE' });
      await expect(
        a.createRun({ dag: info([{ id: 'x' }], 'd1'), runId: 'a/../../b' }),
      ).rejects.toMatchObject({ code: 'AIRLOCK_ERR_CLI_USAGE' });
    });

    it('schedules due runs once across two stores, within maxActiveRuns', async () => {
      const { a, b } = await open();
      const hourly = testDagInfo('hourly', [testTaskInfo('t')], {
        schedule: '@hourly',
        startDate: Date.parse('2026-03-01T07:00:00Z'),
        catchup: true,
        maxActiveRuns: 2,
        isPausedUponCreation: false,
      });
      const now = Date.parse('2026-03-01T10:30:00Z');
      await Promise.all([
        a.syncDags([hourly], { now, pausedAtCreation: true }),
        b.syncDags([hourly], { now, pausedAtCreation: true }),
      ]);
      expect((await a.dagState('hourly'))?.nextDagrun).toBe(Date.parse('2026-03-01T07:00:00Z'));
      // Two stores at once: two runs (maxActiveRuns), each created once.
      const [x, y] = await Promise.all([a.scheduleDue(now), b.scheduleDue(now)]);
      const created = [...x, ...y].map((r) => r.runId).sort();
      expect(created).toEqual([
        'scheduled__2026-03-01T07:00:00+00:00',
        'scheduled__2026-03-01T08:00:00+00:00',
      ]);
      expect(await a.scheduleDue(now)).toEqual([]);
      // One run ends: the next interval follows, and the one after it is not due yet.
      const ti = await a.claimNext('w:1', { runId: 'scheduled__2026-03-01T07:00:00+00:00' });
      if (!ti) throw new Error('nothing claimed');
      expect((await a.finishTry(ti, { success: true })).runState).toBe('success');
      const next = await b.scheduleDue(now);
      expect(next.map((r) => [r.runId, r.dataIntervalStart, r.dataIntervalEnd])).toEqual([
        [
          'scheduled__2026-03-01T09:00:00+00:00',
          Date.parse('2026-03-01T09:00:00Z'),
          Date.parse('2026-03-01T10:00:00Z'),
        ],
      ]);
      expect((await a.dagState('hourly'))?.nextDagrunCreateAfter).toBe(
        Date.parse('2026-03-01T11:00:00Z'),
      );
      // Paused: nothing, even when due.
      await a.setPaused('hourly', true);
      expect(await a.scheduleDue(Date.parse('2026-03-02T00:00:00Z'))).toEqual([]);
    });
  });
}

suite('sqlite', sqliteDatabases);
suite('postgres', postgresDatabases);
