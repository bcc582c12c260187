/**
 * What a task process loads: a DAG file that imports only the pipeline API from `airlock` gets
 * the light entry `airlock/dag` (no backend, no configuration, no zod), and the try still runs
 * with `Variable.get` over its channel; a file that imports anything else from `airlock` gets the whole
 * package and runs too. The built package's task process is one bundle (`npm run build`, here
 * the test run's build of `dist/`): the DAG file gets the bundle's own DAG API, and no module of
 * the package is loaded a second time. Loaded modules are recorded by a `module.registerHooks`
 * preload in the task's `NODE_OPTIONS`.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as dagEntry from '../../src/dag.ts';
import { SecretsMasker } from '../../src/masking/masker.ts';
import { BUNDLED_DAG_API_KEY } from '../../src/pipelines/bundled.ts';
import { DAG_API_NAMES } from '../../src/pipelines/loader.ts';
import type { SupervisorLookup } from '../../src/pipelines/supervisor.ts';
import type { TaskSpec } from '../../src/pipelines/task-main.ts';
import { runTaskProcess, startSpareTaskProcess } from '../../src/pipelines/worker.ts';
import { NODE } from '../helpers/cli.ts';
import { isAlive } from '../helpers/process.ts';
import { trySpec } from '../helpers/task-spec.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

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
  join(dags, 'cache.ts'),
  `import { dag, task } from 'airlock';
import { getCompileCacheDir } from 'node:module';
dag('cache', { schedule: null }, () => {
  task('t', ({ log }) => log.info('env ' + (process.env.NODE_COMPILE_CACHE ?? 'unset') + ' ' + (process.env.AIRLOCK_OWN_COMPILE_CACHE ?? 'unset') + ' cache ' + (getCompileCacheDir() ?? 'off')));
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
// Records the built-in modules the process loaded by the end of the try (read without loading
// any: `process.getBuiltinModule`).
writeFileSync(
  join(dags, 'builtins.ts'),
  `import { dag, task } from 'airlock';
dag('builtins', { schedule: null }, () => {
  task('t', () => {
    process.getBuiltinModule('node:fs').writeFileSync(process.env.BUILTINS_FILE!, process.moduleLoadList.join('\\n'));
  });
});
`,
);
// Every way a task prints: its logger, console, both stdio streams with callbacks, a stream
// piped into stdout, and a secret it resolved, split across two writes.
writeFileSync(
  join(dags, 'prints.ts'),
  `import { dag, task, Variable } from 'airlock';
import { Readable, pipeline } from 'node:stream';
dag('prints', { schedule: null }, () => {
  task('t', async ({ log }) => {
    const token = await Variable.get('api_token');
    log.info('one');
    console.log('two %s', 'console');
    await new Promise((r) => process.stdout.write('three stdout\\n', r));
    await new Promise((r) => process.stderr.write(Buffer.from('four stderr\\n'), r));
    await new Promise((r) => Readable.from(['five ', 'piped\\n']).pipe(process.stdout, { end: false }).on('unpipe', r));
    process.stdout.write('six ' + token.slice(0, 9));
    process.stdout.write(token.slice(9) + ' end\\n');
    console.error('seven', { token });
    // Last: as in Node, the pipeline ends the stream it writes to.
    await new Promise((r, j) => pipeline(Readable.from(['eight pipeline\\n']), process.stderr, (e) => (e ? j(e) : r(null))));
    log.info('nine ' + (process.stdout.fd ?? 'none') + ' ' + (process.stdout.isTTY ?? 'none'));
  });
});
`,
);
// A function that never settles, with nothing else to wait for: Node ends the process (exit 13)
// as it would without a supervisor; the channel keeps nobody waiting.
writeFileSync(
  join(dags, 'stuck.ts'),
  `import { dag, task } from 'airlock';
dag('stuck', { schedule: null }, () => {
  task('t', () => new Promise(() => {}));
});
`,
);
// A lookup given up (its signal aborted) while its answer never comes: the try still ends.
writeFileSync(
  join(dags, 'abandons.ts'),
  `import { dag, task, Variable } from 'airlock';
dag('abandons', { schedule: null }, () => {
  task('t', async ({ log }) => {
    const controller = new AbortController();
    const asked = Variable.get('never', { signal: controller.signal }).catch((e) => 'gave up: ' + e.message);
    setTimeout(() => controller.abort(new Error('no answer')), 50);
    log.info(await asked);
  });
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
      key === 'never'
        ? new Promise<never>(() => {})
        : key === 'region'
          ? { value: 'eu-west-1', source: 'vault', trace: [] }
          : key === 'api_token'
            ? { value: 'cnry-task-output-token-8841', source: 'vault', trace: [] }
            : undefined,
    getConnection: async () => undefined,
  },
};

function specOf(dagId: string): TaskSpec {
  return trySpec({ dagsFolder: dags, fileloc: `${dagId}.ts`, dagId, taskId: 't' });
}

type Started = {
  lines: string[];
  loaded: string[];
  skipped: boolean;
  skipDownstream: boolean;
  exitCode: number | null;
  timedOut: boolean;
};

/** Runs the try of `dagId`'s task (`t`, or `taskId`) with the sources' worker, or the built one. */
async function run(
  dagId: string,
  options: {
    built?: boolean | string;
    taskId?: string;
    env?: Record<string, string>;
    exitCode?: number;
    /** Record the modules loaded (a preload hook, which itself loads some of Node's). */
    record?: boolean;
  } = {},
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
      ...(options.record === false ? {} : { NODE_OPTIONS: `--import ${hook}` }),
      LOADED_FILE: loadedFile,
      ...options.env,
    },
    masker: new SecretsMasker(),
    lookup,
    onLine: (l) => lines.push(l),
    timeoutMs: 30_000,
  });
  expect(result.exitCode, lines.join('\n')).toBe(options.exitCode ?? 0);
  return {
    lines,
    loaded: readFileSync(loadedFile, 'utf8').split('\n').filter(Boolean),
    skipped: result.skipped,
    skipDownstream: result.skipDownstream,
    exitCode: result.exitCode,
    timedOut: result.timedOut,
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

describe('a task process started ahead of its worker', () => {
  it('exits, with its process group, when its worker is killed (kill -9) while it waits', async () => {
    // A worker (the built one) that starts a spare, says its pid, and waits.
    const script = `
      const { startSpareTaskProcess } = await import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../../dist/pipelines/worker.js')).href)});
      const { SecretsMasker } = await import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../../dist/masking/masker.js')).href)});
      const lookup = { maskAllResolved: false, resolver: { getVariable: async () => undefined, getConnection: async () => undefined } };
      const spare = startSpareTaskProcess({ ...process.env }, new SecretsMasker(), lookup);
      spare.supervised.child.once('spawn', () => console.log('spare ' + spare.supervised.child.pid));
      setInterval(() => {}, 1000);
    `;
    const worker = spawn(NODE, ['--input-type=module', '-e', script], {
      env: { ...process.env, AIRLOCK_HOME: home },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const pid = await new Promise<number>((resolve, reject) => {
        let out = '';
        worker.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /spare (\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        worker.once('exit', (code) => reject(new Error(`the worker exited (${code}): ${out}`)));
      });
      // Loaded and waiting for its try (its entry is running: it has read its environment).
      expect(isAlive(pid)).toBe(true);
      worker.kill('SIGKILL');
      await waitFor(async () => (isAlive(pid) ? undefined : true), 20_000);
    } finally {
      if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    }
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
    // Besides the bundle (the DAG API module reads what the bundle published; it imports
    // nothing): the DAG file.
    const others = loaded.filter(
      (u) => u.startsWith('file:') && !/\/dist\/pipelines\/task-bundle-/.test(u),
    );
    expect(others.map((u) => u.replace(/^.*\/(dist|dags)\//, '$1/')).sort()).toEqual([
      'dags/light.ts',
    ]);
  });

  it("runs with Node's compile cache on, and leaves the task the environment it was given", async () => {
    const { tmpdir } = await import('node:os');
    const own = await run('cache', { built: true, record: false });
    // Node keeps its cache in a folder per Node version under the one named.
    expect(own.lines.find((l) => l.startsWith('INFO - env'))).toMatch(
      new RegExp(`^INFO - env unset unset cache ${join(tmpdir(), 'node-compile-cache')}/v`),
    );
    const folder = join(home, 'own-cache');
    const theirs = await run('cache', {
      built: true,
      record: false,
      env: { NODE_COMPILE_CACHE: folder },
    });
    expect(theirs.lines.find((l) => l.startsWith('INFO - env'))).toMatch(
      new RegExp(`^INFO - env ${folder} unset cache ${folder}/v`),
    );
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

  it("loads none of Node's streams, sockets, child_process or os for a try that prints nothing itself", async () => {
    const file = join(home, 'builtins.list');
    await run('builtins', { built: true, env: { BUILTINS_FILE: file }, record: false });
    const builtins = readFileSync(file, 'utf8').split('\n');
    // The file was written: the list is the process's.
    expect(builtins).toContain('NativeModule fs');
    expect(
      builtins.filter((m) =>
        /^NativeModule (stream|net|os|child_process|internal\/streams\/(readable|writable|duplex|transform)|internal\/fs\/promises|internal\/child_process)$/.test(
          m,
        ),
      ),
    ).toEqual([]);
  });

  it('writes what the task prints, every way, in order and masked', async () => {
    const { lines } = await run('prints', { built: true });
    const printed = lines.filter((l) => l.startsWith('INFO - Executing')).length
      ? lines.slice(lines.findIndex((l) => l.startsWith('INFO - Executing')) + 1)
      : lines;
    expect(printed.slice(0, 10)).toEqual([
      'INFO - one',
      'two console',
      'three stdout',
      'four stderr',
      'five piped',
      'six *** end',
      "seven { token: '***' }",
      'eight pipeline',
      'INFO - nine 1 false',
      'INFO - Marking task as SUCCESS. dag_id=prints, task_id=t',
    ]);
    expect(lines.join('\n')).not.toContain('cnry-task-output-token-8841');
  });

  it('ends a try that gave up on a lookup whose answer never comes, not at its timeout', async () => {
    const { lines, timedOut } = await run('abandons', { built: true });
    expect(timedOut).toBe(false);
    expect(lines).toContain('INFO - gave up: no answer');
  });

  it('ends a try whose function never settles as Node does (exit 13), not at its timeout', async () => {
    const { timedOut } = await run('stuck', { built: true, exitCode: 13 });
    expect(timedOut).toBe(false);
  });

  it('reads the DAG API where bundled.ts publishes it', () => {
    const shim = readFileSync(
      join(import.meta.dirname, '../../src/pipelines/task-bundle-dag.ts'),
      'utf8',
    );
    expect(shim).toContain(`Symbol.for('${BUNDLED_DAG_API_KEY}')`);
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
