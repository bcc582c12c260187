/**
 * Compile-time checks of the pipeline API's types (compiled by `tsc` in `npm test`, never run):
 * a downstream task's `upstream(task)` has the type the upstream task returns, and
 * `Variable.get` is a string unless asked for JSON. Each `@ts-expect-error` is a mistake the
 * types must refuse: if it compiled, `tsc` would fail on the unused directive.
 */
import { expectTypeOf } from 'vitest';
import { dag, type Task, task, Variable } from '../../src/index.ts';

dag('typed', { schedule: null }, () => {
  const extract = task('extract', () => ({ rows: 3, source: 's3://bucket/key' }));
  expectTypeOf(extract).toEqualTypeOf<Task<{ rows: number; source: string }>>();

  const transform = task(
    'transform',
    async ({ upstream }) => {
      const got = upstream(extract);
      expectTypeOf(got).toEqualTypeOf<{ rows: number; source: string }>();
      // @ts-expect-error: extract returns no `columns`
      got.columns;
      return { doubled: got.rows * 2 };
    },
    { dependsOn: [extract] },
  );
  // An async function's value is what it resolves to.
  expectTypeOf(transform).toEqualTypeOf<Task<{ doubled: number }>>();

  task(
    'load',
    ({ upstream }) => {
      const n: number = upstream(transform).doubled;
      // @ts-expect-error: doubled is a number, not a string
      const s: string = upstream(transform).doubled;
      // By id, the value is unknown until checked.
      expectTypeOf(upstream('extract')).toBeUnknown();
      return [n, s];
    },
    { dependsOn: [transform] },
  );
  // A task that returns nothing hands on nothing.
  expectTypeOf(task('quiet', () => {})).toEqualTypeOf<Task<void>>();
});

dag(
  'typed_params',
  {
    schedule: null,
    params: {
      env: { type: 'string', enum: ['dev', 'prod'], default: 'dev' },
      rows: { type: 'integer', minimum: 1 },
      dryRun: { type: 'boolean', default: false },
    },
  },
  (d) => {
    d.task('show', ({ params }) => {
      expectTypeOf(params.env).toEqualTypeOf<'dev' | 'prod'>();
      expectTypeOf(params.rows).toEqualTypeOf<number>();
      expectTypeOf(params.dryRun).toEqualTypeOf<boolean>();
      // @ts-expect-error: no such param
      params.missing;
      // @ts-expect-error: env is 'dev' | 'prod'
      const other: 'staging' = params.env;
      return other;
    });
  },
);

async function variables() {
  const bucket: string = await Variable.get('bucket');
  expectTypeOf(await Variable.get('bucket')).toEqualTypeOf<string>();
  expectTypeOf(await Variable.get('maybe', { default: undefined })).toEqualTypeOf<
    string | undefined
  >();
  expectTypeOf(await Variable.get<{ rows: number }>('settings', { json: true })).toEqualTypeOf<{
    rows: number;
  }>();
  expectTypeOf(await Variable.get('settings', { json: true })).toBeUnknown();
  // @ts-expect-error: without json the value is a string
  const n: number = await Variable.get('count');
  return [bucket, n];
}
void variables;
