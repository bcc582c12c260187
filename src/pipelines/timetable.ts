/**
 * @module pipelines/timetable
 * When a scheduled DAG runs, as Airflow's timetables define it:
 *
 * - a cron expression or a cron preset (`@hourly`, `@daily`, `@weekly`, `@monthly`,
 *   `@quarterly`, `@yearly`/`@annually`) is Airflow's `CronDataIntervalTimetable`: each run covers
 *   one data interval `[start, end)` between two consecutive cron times, its logical date is the
 *   interval's start, and it is created once the interval has ended;
 * - `@once` is `OnceTimetable`: one run at the start date (an empty interval);
 * - `@continuous` is `ContinuousTimetable`: a new run as soon as the previous one ended
 *   (`maxActiveRuns` must be 1), its interval from the previous run's end to now;
 * - `null` never runs by itself.
 *
 * Cron times are computed in the DAG's IANA timezone by `croner` (so `0 2 * * *` is 02:00 local
 * time on both sides of a DST change); everything stored is epoch milliseconds. The functions here
 * are pure: the caller passes `now`.
 */
import { Cron } from 'croner';
import { AirlockError } from '../errors.ts';

/** Airflow's cron presets. */
export const CRON_PRESETS: Readonly<Record<string, string>> = Object.freeze({
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@quarterly': '0 0 1 */3 *',
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
});

/** A schedule as a DAG declares it. */
export type Schedule = string | null;

/** A data interval, epoch milliseconds, `start` inclusive and `end` exclusive. */
export interface DataInterval {
  readonly start: number;
  readonly end: number;
}

/** The next run of a DAG: its interval, its logical date and when it may be created. */
export interface DagRunInfo {
  readonly interval: DataInterval;
  /** The interval's start (Airflow's `logical_date`). */
  readonly logicalDate: number;
  /** Not before this time (Airflow's `next_dagrun_create_after`). */
  readonly runAfter: number;
}

/** What bounds a DAG's runs (Airflow's `TimeRestriction`). */
export interface TimeRestriction {
  /** The DAG's `startDate`; `null`: none (a cron DAG without one never runs). */
  readonly earliest: number | null;
  /** The DAG's `endDate`: no interval starts after it. */
  readonly latest: number | null;
  readonly catchup: boolean;
}

/** A DAG's schedule, parsed. */
export interface Timetable {
  /** `cron`, `once`, `continuous` or `none`. */
  readonly kind: 'cron' | 'once' | 'continuous' | 'none';
  /** The schedule as declared (`@daily`, `0 6 * * 1-5`, …), or `null`. */
  readonly summary: string | null;
  /**
   * The next run after the last scheduled one (`last`, or `null` before the first), or
   * `undefined` when there is none (the end date passed, `@once` ran, no schedule).
   */
  next(
    last: DataInterval | null,
    restriction: TimeRestriction,
    now: number,
  ): DagRunInfo | undefined;
}

function invalid(message: string): AirlockError {
  return new AirlockError('AIRLOCK_ERR_DAG_INVALID', message);
}

/** Time zones this process has already checked. */
const knownTimezones = new Set<string>();

/**
 * Checks an IANA timezone name.
 *
 * @throws AirlockError `AIRLOCK_ERR_DAG_INVALID` when the runtime does not know it.
 */
export function checkTimezone(timezone: string): string {
  // The default needs no check: the first `Intl.DateTimeFormat` of a process loads the time zone
  // data, some 25 ms that every task process would otherwise spend on its DAG's `UTC`.
  if (timezone === 'UTC' || knownTimezones.has(timezone)) return timezone;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    knownTimezones.add(timezone);
  } catch {
    throw invalid(
      `unknown timezone \`${timezone.slice(0, 100)}\` (an IANA name, e.g. Europe/Paris)`,
    );
  }
  return timezone;
}

function cronTimetable(expression: string, timezone: string, summary: string): Timetable {
  let cron: Cron;
  try {
    cron = new Cron(expression, { timezone, mode: '5-part', paused: true });
  } catch (err) {
    throw invalid(
      `the schedule \`${expression.slice(0, 100)}\` is not a 5-field cron expression or a preset (${err instanceof Error ? err.message : 'invalid'})`,
    );
  }
  const onSchedule = (t: number) => t % 60_000 === 0 && cron.match(new Date(t));
  const getNext = (t: number): number => {
    const d = cron.nextRun(new Date(t));
    if (!d)
      throw invalid(
        `the schedule \`${expression}\` has no time after ${new Date(t).toISOString()}`,
      );
    return d.getTime();
  };
  const getPrev = (t: number): number => {
    const d = cron.previousRuns(1, new Date(t))[0];
    if (!d)
      throw invalid(
        `the schedule \`${expression}\` has no time before ${new Date(t).toISOString()}`,
      );
    // previousRuns includes a run earlier in the same second: "strictly before" is wanted.
    return d.getTime() >= t ? getPrev(t - 1000) : d.getTime();
  };
  const alignToNext = (t: number) => (onSchedule(t) ? t : getNext(t));
  const alignToPrev = (t: number) => (onSchedule(t) ? t : getPrev(t));
  // Airflow's `_skip_to_latest`: the latest interval that has ended by `now`.
  const skipToLatest = (earliest: number | null, now: number): number => {
    const lastStart = getPrev(now);
    const nextStart = getNext(lastStart);
    const latest = nextStart === now ? lastStart : getPrev(lastStart);
    return earliest === null ? latest : Math.max(latest, alignToNext(earliest));
  };
  return {
    kind: 'cron',
    summary,
    next(last, restriction, now) {
      let earliest = restriction.earliest;
      if (earliest === null) return undefined; // Airflow: a DAG without start_date never runs
      earliest = restriction.catchup ? alignToNext(earliest) : skipToLatest(earliest, now);
      const start = last === null ? earliest : Math.max(alignToPrev(last.end), earliest);
      if (restriction.latest !== null && start > restriction.latest) return undefined;
      const end = getNext(start);
      return { interval: { start, end }, logicalDate: start, runAfter: end };
    },
  };
}

/**
 * Parses a DAG's schedule in its timezone.
 *
 * @throws AirlockError `AIRLOCK_ERR_DAG_INVALID` for an expression croner refuses, one with
 *   seconds, or an unknown preset.
 * @example
 * ```ts
 * const t = timetable('@daily', 'Europe/Paris');
 * t.next(null, { earliest: Date.parse('2026-01-01T00:00:00+01:00'), latest: null, catchup: true }, Date.now());
 * ```
 */
export function timetable(schedule: Schedule, timezone = 'UTC'): Timetable {
  checkTimezone(timezone);
  if (schedule === null) {
    return { kind: 'none', summary: null, next: () => undefined };
  }
  if (schedule === '@once') {
    return {
      kind: 'once',
      summary: schedule,
      next(last, restriction) {
        if (last !== null || restriction.earliest === null) return undefined;
        const at = restriction.earliest;
        return { interval: { start: at, end: at }, logicalDate: at, runAfter: at };
      },
    };
  }
  if (schedule === '@continuous') {
    return {
      kind: 'continuous',
      summary: schedule,
      next(last, restriction, now) {
        if (restriction.earliest === null) return undefined;
        const start = last === null ? restriction.earliest : last.end;
        const end = Math.max(now, restriction.earliest);
        if (restriction.latest !== null && end > restriction.latest) return undefined;
        return { interval: { start, end }, logicalDate: start, runAfter: end };
      },
    };
  }
  const preset = CRON_PRESETS[schedule];
  if (schedule.startsWith('@') && preset === undefined) {
    throw invalid(
      `unknown schedule preset \`${schedule.slice(0, 50)}\` (known: ${[...Object.keys(CRON_PRESETS), '@once', '@continuous'].join(', ')})`,
    );
  }
  return cronTimetable(preset ?? schedule, timezone, schedule);
}
