import { describe, expect, it } from 'vitest';
import {
  type DataInterval,
  type TimeRestriction,
  timetable,
} from '../../src/pipelines/timetable.ts';

const t = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

/** Every run the timetable creates up to `now`, as a scheduler that runs at `now` would. */
function runsUntil(schedule: string, restriction: TimeRestriction, now: number, tz = 'UTC') {
  const table = timetable(schedule, tz);
  const out: { start: string; end: string }[] = [];
  let last: DataInterval | null = null;
  for (;;) {
    const info = table.next(last, restriction, now);
    if (!info || info.runAfter > now) return { runs: out, next: info };
    out.push({ start: iso(info.interval.start), end: iso(info.interval.end) });
    last = info.interval;
  }
}

describe('timetable', () => {
  it('gives @hourly with catchup one run per ended hour, logical date = interval start', () => {
    const { runs, next } = runsUntil(
      '@hourly',
      { earliest: t('2026-03-01T07:00:00Z'), latest: null, catchup: true },
      t('2026-03-01T10:30:00Z'),
    );
    expect(runs).toEqual([
      { start: '2026-03-01T07:00:00.000Z', end: '2026-03-01T08:00:00.000Z' },
      { start: '2026-03-01T08:00:00.000Z', end: '2026-03-01T09:00:00.000Z' },
      { start: '2026-03-01T09:00:00.000Z', end: '2026-03-01T10:00:00.000Z' },
    ]);
    // The current interval runs once it has ended (Airflow's next_dagrun_create_after).
    expect(next && iso(next.logicalDate)).toBe('2026-03-01T10:00:00.000Z');
    expect(next && iso(next.runAfter)).toBe('2026-03-01T11:00:00.000Z');
  });

  it('aligns a start date between two cron times to the next one (Airflow)', () => {
    const { runs } = runsUntil(
      '@hourly',
      { earliest: t('2026-03-01T07:30:00Z'), latest: null, catchup: true },
      t('2026-03-01T10:30:00Z'),
    );
    expect(runs.map((r) => r.start)).toEqual([
      '2026-03-01T08:00:00.000Z',
      '2026-03-01T09:00:00.000Z',
    ]);
  });

  it('without catchup creates only the latest ended interval (_skip_to_latest)', () => {
    const { runs } = runsUntil(
      '@daily',
      { earliest: t('2026-01-01T00:00:00Z'), latest: null, catchup: false },
      t('2026-03-10T12:00:00Z'),
    );
    expect(runs).toEqual([{ start: '2026-03-09T00:00:00.000Z', end: '2026-03-10T00:00:00.000Z' }]);
  });

  it('without catchup, on an interval boundary, takes the interval that just ended', () => {
    const { runs } = runsUntil(
      '@hourly',
      { earliest: t('2026-01-01T00:00:00Z'), latest: null, catchup: false },
      t('2026-03-10T12:00:00Z'),
    );
    expect(runs.map((r) => r.start)).toEqual(['2026-03-10T11:00:00.000Z']);
  });

  it('stops at the end date: no interval starts after it', () => {
    const { runs, next } = runsUntil(
      '@daily',
      { earliest: t('2026-03-01T00:00:00Z'), latest: t('2026-03-03T00:00:00Z'), catchup: true },
      t('2026-03-20T00:00:00Z'),
    );
    expect(runs.map((r) => r.start.slice(0, 10))).toEqual([
      '2026-03-01',
      '2026-03-02',
      '2026-03-03',
    ]);
    expect(next).toBeUndefined();
  });

  it('computes cron times in the DAG timezone across a DST change (23 h and 25 h days)', () => {
    const spring = runsUntil(
      '0 0 * * *',
      { earliest: t('2026-03-28T00:00:00+01:00'), latest: null, catchup: true },
      t('2026-03-30T12:00:00Z'),
      'Europe/Amsterdam',
    ).runs;
    expect(spring).toEqual([
      { start: '2026-03-27T23:00:00.000Z', end: '2026-03-28T23:00:00.000Z' },
      // 29 March: clocks go from 02:00 to 03:00, the day has 23 hours.
      { start: '2026-03-28T23:00:00.000Z', end: '2026-03-29T22:00:00.000Z' },
    ]);
    const autumn = runsUntil(
      '30 1 * * *',
      { earliest: t('2026-10-24T00:00:00+02:00'), latest: null, catchup: true },
      t('2026-10-26T12:00:00Z'),
      'America/New_York',
    ).runs;
    expect(autumn.map((r) => r.start)).toEqual([
      '2026-10-24T05:30:00.000Z',
      '2026-10-25T05:30:00.000Z',
    ]);
  });

  it('runs @once at the start date, once', () => {
    const { runs, next } = runsUntil(
      '@once',
      { earliest: t('2026-03-01T05:00:00Z'), latest: null, catchup: false },
      t('2026-03-10T00:00:00Z'),
    );
    expect(runs).toEqual([{ start: '2026-03-01T05:00:00.000Z', end: '2026-03-01T05:00:00.000Z' }]);
    expect(next).toBeUndefined();
  });

  it('gives @continuous an interval from the previous run to now, due at once', () => {
    const table = timetable('@continuous');
    const r = { earliest: t('2026-03-01T00:00:00Z'), latest: null, catchup: false };
    const first = table.next(null, r, t('2026-03-02T00:00:00Z'));
    expect(first).toEqual({
      interval: { start: t('2026-03-01T00:00:00Z'), end: t('2026-03-02T00:00:00Z') },
      logicalDate: t('2026-03-01T00:00:00Z'),
      runAfter: t('2026-03-02T00:00:00Z'),
    });
    const second = table.next(first?.interval ?? null, r, t('2026-03-02T00:05:00Z'));
    expect(second?.interval).toEqual({
      start: t('2026-03-02T00:00:00Z'),
      end: t('2026-03-02T00:05:00Z'),
    });
  });

  it('never runs a DAG without a start date, nor one with schedule null', () => {
    const now = t('2026-03-10T00:00:00Z');
    expect(
      timetable('@daily').next(null, { earliest: null, latest: null, catchup: true }, now),
    ).toBeUndefined();
    expect(
      timetable(null).next(null, { earliest: 0, latest: null, catchup: true }, now),
    ).toBeUndefined();
  });

  it('refuses a bad expression, a seconds field, an unknown preset or timezone with a code', () => {
    for (const [schedule, tz] of [
      ['61 * * * *', 'UTC'],
      ['0 0 * * * *', 'UTC'],
      ['@fortnightly', 'UTC'],
      ['@daily', 'Mars/Olympus'],
    ] as const) {
      expect(() => timetable(schedule, tz)).toThrow(
        expect.objectContaining({ code: 'AIRLOCK_ERR_DAG_INVALID' }),
      );
    }
  });
});
