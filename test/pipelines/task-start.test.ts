/**
 * What a task process loads: a DAG file that imports only the pipeline API from `airlock` gets
 * the light entry `airlock/dag` (no backend, no configuration, no zod), and the try still runs
 * with `Variable.get` over IPC; a file that imports anything else from `airlock` gets the whole
 * package and runs too. The built package's task process is one bundle (`npm run build`, here
 * the test run's build of `dist/`): the DAG file gets the bundle's own DAG API, and no module of
 * the package is loaded a second time. Loaded modules are recorded by a `module.registerHooks`
 * preload in the task's `NODE_OPTIONS`.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as dagEntry from '../../src/dag.ts';
import { SecretsMasker } from '../../src/masking/masker.ts';
import { DAG_API_NAMES } from '../../src/pipelines/loader.ts';
import type { SupervisorLookup } from '../../src/pipelines/supervisor.ts';
import type { TaskSpec } from '../../src/pipelines/task-main.ts';
import { runTaskProcess, startSpareTaskProcess } from '../../src/pipelines/worker.ts';
import { tempDir } from '../helpers/tmp.ts';

const home = tempDir('airlock-task-start-');
const dags = join(home, 'dags');
mkdirSync(dags, { recursive: true });
writeFileSync(
  join(dags, 'light.ts'),
  `import { dag, task, Variable, type TaskContext } from 'airlock';
dag('light', { schedule: null }, () => {
  task('t', async ({ log }: TaskContext) => log.info('region ' + (await Variable.get('region'))));
});
`,
);
writeFileSync(
  join(dags, 'pid.ts'),
  `import { dag, task, Variable } from 'airlock';
dag('pid', { schedule: null }, () => {
  task('t', async ({ log }) => log.info('pid ' + process.pid + ' region ' + (await Variable.get('region')) + ' spec ' + (process.env.AIRLOCK_TASK_SPEC ?? 'gone')));
});
`,
);
writeFileSync(
  join(dags, 'skips.ts'),
  `import { dag, task, SkipTask, shortCircuit } from 'airlock/dag';
dag('skips', { schedule: null }, () => {
  task('t', () => { throw new SkipTask('nothing to do'); });
  shortCircuit('s', () => false);
});
`,
);
writeFileSync(
  join(dags, 'whole.ts'),
  `import { dag, task, isSensitiveName } from "airlock";
dag('whole', { schedule: null }, () => {
  task('t', ({ log }) => log.info('sensitive ' + isSensitiveName('db_password')));
});
`,
);
const hook = join(home, 'record.mjs');
writeFileSync(
  hook,
  `import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({ load(url, context, next) { appendFileSync(process.env.LOADED_FILE, url + '\\n'); return next(url, context); } });
`,
);

const lookup: SupervisorLookup = {
  maskAllResolved: false,
  resolver: {
    getVariable: async (key) =>
      key === 'region' ? { value: 'eu-west-1', source: 'vault', trace: [] } : undefined,
    getConnection: async () => undefined,
  },
};

function specOf(dagId: string): TaskSpec {
  const now = new Date().toISOString();
  return {
    dagsFolder: dags,
    fileloc: `${dagId}.ts`,
    dagId,
    taskId: 't',
    runId: 'r',
    runType: 'manual',
    tryNumber: 1,
    maxTries: 1,
    logicalDate: now,
    dataIntervalStart: now,
    dataIntervalEnd: now,
    conf: {},
  };
}

type Started = { lines: string[]; loaded: string[]; skipped: boolean; skipDownstream: boolean };

/** Runs the try of `dagId`'s task (`t`, or `taskId`) with the sources' worker, or the built one. */
async function run(
  dagId: string,
  options: { built?: boolean | string; taskId?: string } = {},
): Promise<Started> {
  const loadedFile = join(home, `${dagId}-${options.taskId ?? 't'}.loaded`);
  writeFileSync(loadedFile, '');
  const spec = { ...specOf(dagId), taskId: options.taskId ?? 't' };
  const lines: string[] = [];
  const dist =
    typeof options.built === 'string' ? options.built : join(import.meta.dirname, '../../dist');
  const worker: { runTaskProcess: typeof runTaskProcess } = options.built
    ? await import(pathToFileURL(join(dist, 'pipelines/worker.js')).href)
    : { runTaskProcess };
  const result = await worker.runTaskProcess(spec, {
    env: {
      ...process.env,
      AIRLOCK_HOME: home,
      NODE_OPTIONS: `--import ${hook}`,
      LOADED_FILE: loadedFile,
    },
    masker: new SecretsMasker(),
    lookup,
    onLine: (l) => lines.push(l),
  });
  expect(result.exitCode, lines.join('\n')).toBe(0);
  return {
    lines,
    loaded: readFileSync(loadedFile, 'utf8').split('\n').filter(Boolean),
    skipped: result.skipped,
    skipDownstream: result.skipDownstream,
  };
}

describe('a task process started ahead of its try', () => {
  it('runs one try each, in a process of its own, and is not used for another environment', async () => {
    const env = { ...process.env, AIRLOCK_HOME: home };
    const masker = new SecretsMasker();
    const pids: number[] = [];
    const lines: string[] = [];
    for (let i = 0; i < 2; i++) {
      const spare = startSpareTaskProcess(env, masker, lookup);
      const pid = spare.supervised.child.pid as number;
      pids.push(pid);
      const result = await runTaskProcess(specOf('pid'), {
        env,
        masker,
        lookup,
        spare,
        onLine: (l) => lines.push(l),
      });
      expect(result.exitCode, lines.join('\n')).toBe(0);
      expect(lines).toContain(`INFO - pid ${pid} region eu-west-1 spec gone`);
      expect(spare.alive()).toBe(false);
    }
    expect(new Set(pids).size).toBe(2);
    // Started with another environment (an older settings version): discarded, a fresh process runs.
    const stale = startSpareTaskProcess({ ...env }, masker, lookup);
    const stalePid = stale.supervised.child.pid as number;
    const out: string[] = [];
    const result = await runTaskProcess(specOf('pid'), {
      env,
      masker,
      lookup,
      spare: stale,
      onLine: (l) => out.push(l),
    });
    expect(result.exitCode, out.join('\n')).toBe(0);
    expect(out.some((l) => l.startsWith('INFO - pid ') && !l.includes(`pid ${stalePid} `))).toBe(
      true,
    );
    await new Promise<void>((resolve) => {
      if (!stale.alive()) resolve();
      else stale.supervised.child.once('exit', () => resolve());
    });
  });
});

describe('the task process loads only what a task needs', () => {
  it('resolves a DAG file that imports only the pipeline API to airlock/dag: no backend, no zod, no configuration reader, no resolver', async () => {
    const { lines, loaded } = await run('light');
    expect(lines).toContain('INFO - region eu-west-1');
    expect(loaded.some((u) => u.endsWith('/dist/dag.js'))).toBe(true);
    expect(
      loaded.filter((u) =>
        /\/zod\/|\/backends\/|\/config\/(load-config|read-config)|\/metastore\/|\/resolver\/(open|chain|resolver|cache-layer|walk)|\/dist\/index\.js/.test(
          u,
        ),
      ),
    ).toEqual([]);
  });

  it('gives a DAG file that imports anything else the whole package, and it runs', async () => {
    const { lines, loaded } = await run('whole');
    expect(lines).toContain('INFO - sensitive true');
    expect(loaded.some((u) => u.endsWith('/dist/index.js'))).toBe(true);
  });

  it('knows exactly the names airlock/dag exports', () => {
    expect([...DAG_API_NAMES].sort()).toEqual(Object.keys(dagEntry).sort());
  });
});

describe("the built package's task process", () => {
  const bundleFiles = (loaded: string[]) =>
    loaded.filter((u) => /\/dist\/pipelines\/task-bundle-/.test(u)).map((u) => u.split('/').pop());

  it('is one bundle: the DAG file gets its DAG API, and nothing of the package loads twice', async () => {
    const { lines, loaded } = await run('light', { built: true });
    expect(lines).toContain('INFO - region eu-west-1');
    expect(bundleFiles(loaded)).toEqual([
      'task-bundle-main.js',
      expect.stringMatching(/^task-bundle-chunk-static-[\w-]+\.js$/),
      'task-bundle-dag.js',
    ]);
    // Besides the bundle: its entry, the small module the DAG API is read through, the DAG file.
    const others = loaded.filter(
      (u) => u.startsWith('file:') && !/\/dist\/pipelines\/task-bundle-/.test(u),
    );
    expect(others.map((u) => u.replace(/^.*\/(dist|dags)\//, '$1/')).sort()).toEqual([
      'dags/light.ts',
      'dist/pipelines/bundled.js',
      'dist/pipelines/task-entry.js',
    ]);
  });

  it("keeps SkipTask and shortCircuit, thrown and returned through the bundle's API", async () => {
    const skipped = await run('skips', { built: true });
    expect(skipped.lines).toContain('INFO - Skipping task: nothing to do');
    expect(skipped.skipped).toBe(true);
    const short = await run('skips', { built: true, taskId: 's' });
    expect(short.skipDownstream).toBe(true);
  });

  it('runs a DAG file that imports anything else from the whole package', async () => {
    const { lines, loaded } = await run('whole', { built: true });
    expect(lines).toContain('INFO - sensitive true');
    expect(loaded.some((u) => u.endsWith('/dist/index.js'))).toBe(true);
  });

  it('is not used when it is older than the modules beside it (tsc run without the bundling step)', async () => {
    // A copy of the build beside `dist/` (so that it finds the package and its node_modules),
    // whose task-main.js was rewritten after the bundle was made.
    const copy = join(import.meta.dirname, `../../dist.build-stale-${process.pid}`);
    try {
      cpSync(join(import.meta.dirname, '../../dist'), copy, { recursive: true });
      const later = new Date(Date.now() + 60_000);
      utimesSync(join(copy, 'pipelines/task-main.js'), later, later);
      const { lines, loaded } = await run('light', { built: copy });
      expect(lines).toContain('INFO - region eu-west-1');
      expect(loaded.some((u) => u.includes('/task-bundle-'))).toBe(false);
      expect(
        loaded.some((u) => u.endsWith(`/dist.build-stale-${process.pid}/pipelines/task-main.js`)),
      ).toBe(true);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('re-exports exactly the names airlock/dag exports', async () => {
    const shim = readFileSync(
      join(import.meta.dirname, '../../src/pipelines/task-bundle-dag.ts'),
      'utf8',
    );
    const names = /export const \{([^}]*)\}/
      .exec(shim)?.[1]
      ?.split(',')
      .map((n) => n.trim());
    expect(names?.filter(Boolean).sort()).toEqual(Object.keys(dagEntry).sort());
  });
});
