/**
 * @module pipelines/loader
 * DAG discovery: every `.ts`, `.mts`, `.js` and `.mjs` file under the DAGs folder whose text
 * mentions both `dag` and `airlock` (Airflow's "safe mode" heuristic) is imported, TypeScript
 * directly through Node's type stripping. A file that throws is recorded with its error and the
 * others still load, as Airflow's DagBag does.
 *
 * DAG files `import { dag, task, Variable } from 'airlock'`. A DAG folder outside this project
 * has no `node_modules/airlock`, so {@link registerAirlockResolution} installs a
 * `module.registerHooks` resolve hook that resolves `airlock` and `airlock/*` as this package
 * resolves itself (its `exports`: `dist/index.js`, …), wherever the DAG file is. A file whose
 * every `airlock` import is `import { … } from 'airlock'` naming only what `airlock/dag` exports
 * (the pipeline API, `Variable`, `Connection`, the errors) gets `airlock/dag`, which loads none
 * of the backends, the configuration or zod: the same objects (both re-export the same modules),
 * at a fraction of the start-up cost of a task process.
 */
import { AirlockError, isAirlockError } from '../errors.ts';
import { SecretsMasker } from '../masking/masker.ts';
import { bundledDagApiUrl } from './bundled.ts';
import {
  type Dag,
  type DagScheduleFields,
  isDag,
  type ResolvedTaskSettings,
  takeRegisteredDags,
} from './dag.ts';
import type { ParamSpecs } from './params.ts';
import type { SupervisorLookup } from './supervisor.ts';

// Node's modules taken from the process, not imported: a task process loads this module, and an
// ES import of `node:fs` reads every export of it (running its lazy getters, which load
// `fs/promises` and Node's streams), which costs a try milliseconds.
const { readdirSync, readFileSync, statSync } = process.getBuiltinModule('node:fs');
const module = process.getBuiltinModule('node:module');
const { join, relative } = process.getBuiltinModule('node:path');
const { fileURLToPath, pathToFileURL } = process.getBuiltinModule('node:url');

/** This package's `package.json`, from `src/pipelines` or `dist/pipelines`. */
const PACKAGE_JSON_URL = new URL('../../package.json', import.meta.url).href;
const DAG_FILE = /\.(m?ts|m?js)$/;
const SKIPPED_DIRS = new Set(['node_modules', '__pycache__']);

let hooked = false;

/**
 * Makes `import … from 'airlock'` (and `airlock/*`) in any file of this process resolve to this
 * installation of airlock. Idempotent.
 *
 * @example
 * ```ts
 * registerAirlockResolution();
 * await import(pathToFileURL('/srv/dags/etl.ts').href);
 * ```
 */
export function registerAirlockResolution(): void {
  if (hooked) return;
  hooked = true;
  module.registerHooks({
    resolve(specifier, context, nextResolve) {
      if (specifier === 'airlock' || specifier.startsWith('airlock/')) {
        // Self-reference: resolved as if imported from inside this package, through its exports.
        const light = specifier === 'airlock' && importsOnlyDagApi(context.parentURL);
        const bundled = bundledDagApiUrl();
        if (bundled !== undefined && (light || specifier === 'airlock/dag')) {
          return { url: bundled, format: 'module', shortCircuit: true };
        }
        return nextResolve(light ? 'airlock/dag' : specifier, {
          ...context,
          parentURL: PACKAGE_JSON_URL,
        });
      }
      return nextResolve(specifier, context);
    },
  });
}

/** What `airlock/dag` (`src/dag.ts`) exports: a test keeps the two equal. */
export const DAG_API_NAMES: ReadonlySet<string> = new Set([
  'AirlockError',
  'ConfigError',
  'Connection',
  'Dag',
  'ERROR_CODES',
  'NotFoundError',
  'SkipTask',
  'TRIGGER_RULES',
  'Task',
  'Variable',
  'chain',
  'dag',
  'isAirlockError',
  'isDag',
  'shortCircuit',
  'task',
]);

const AIRLOCK_SPECIFIER = /(["'])airlock\1/g;
const NAMED_IMPORT = /\bimport\s*(type\s+)?\{([^}]*)\}\s*from\s*(["'])airlock\3/g;

/**
 * Whether every mention of the `airlock` specifier in the file at `parentUrl` is a named import
 * (`import { a, b as c, type T } from 'airlock'`) of {@link DAG_API_NAMES} only. Anything else
 * (a namespace or default import, a re-export, a dynamic `import()`, a name outside the set, a
 * file that cannot be read) keeps the whole package: never a missing export.
 */
function importsOnlyDagApi(parentUrl: string | undefined): boolean {
  if (parentUrl === undefined || !parentUrl.startsWith('file:')) return false;
  let text: string;
  try {
    text = readFileSync(fileURLToPath(parentUrl), 'utf8');
  } catch {
    return false;
  }
  const mentions = text.match(AIRLOCK_SPECIFIER)?.length ?? 0;
  let named = 0;
  for (const match of text.matchAll(NAMED_IMPORT)) {
    named++;
    if (match[1] !== undefined) continue; // `import type { … }`: erased, never loaded
    for (const part of (match[2] ?? '').split(',')) {
      const item = part.trim();
      if (item === '' || item.startsWith('type ')) continue;
      const name = item.split(/\s+as\s+/)[0]?.trim() ?? '';
      if (!DAG_API_NAMES.has(name)) return false;
    }
  }
  return mentions > 0 && named === mentions;
}

/** A DAG file that did not load. */
export interface DagImportError {
  /** The file's path, relative to the DAGs folder. */
  readonly file: string;
  /** What went wrong: the error's name and message (the first lines of a syntax error). */
  readonly message: string;
}

/** What a discovery found. */
export interface DagBag {
  readonly folder: string;
  readonly dags: ReadonlyMap<string, Dag>;
  readonly errors: readonly DagImportError[];
}

/** A task, as the UI, the API and the store see it (its settings resolved). */
export interface TaskInfo extends ResolvedTaskSettings {
  readonly taskId: string;
  readonly description: string | null;
  readonly upstream: readonly string[];
  readonly downstream: readonly string[];
}

/** A DAG, as plain data. */
export interface DagInfo extends DagScheduleFields {
  readonly dagId: string;
  /** The file, relative to the DAGs folder. */
  readonly fileloc: string;
  readonly description: string | null;
  readonly tags: readonly string[];
  /** The param specs (see `params.ts`). */
  readonly params: ParamSpecs;
  /** The run states the DAG has a callback for (`onSuccess`: `success`, `onFailure`: `failed`). */
  readonly callbacks: readonly ('success' | 'failed')[];
  /** In topological order. */
  readonly tasks: readonly TaskInfo[];
}

/** A discovery, as plain data (what the discovery child process prints). */
export interface DagBagInfo {
  readonly folder: string;
  readonly dags: readonly DagInfo[];
  readonly errors: readonly DagImportError[];
}

/** The candidate DAG files under `folder`, sorted; a missing folder has none. */
export function listDagFiles(folder: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name)) walk(path);
      } else if (entry.isFile() && DAG_FILE.test(entry.name) && !entry.name.endsWith('.d.ts')) {
        let text = '';
        try {
          text = readFileSync(path, 'utf8').toLowerCase();
        } catch {
          continue;
        }
        if (text.includes('dag') && text.includes('airlock')) out.push(path);
      }
    }
  };
  walk(folder);
  return out.sort();
}

function describeError(err: unknown): string {
  if (isAirlockError(err)) return `${err.code}: ${err.message}`;
  if (err instanceof Error) {
    const firstLines = err.message.split('\n').slice(0, 3).join(' ').trim();
    return `${err.name}: ${firstLines}`;
  }
  return `thrown ${typeof err}`;
}

/** Per process: a module is evaluated once, so its DAGs are remembered by URL and mtime. */
const loaded = new Map<string, { mtimeMs: number; dags: Dag[] }>();

async function loadFile(path: string): Promise<Dag[]> {
  const mtimeMs = statSync(path).mtimeMs;
  const cached = loaded.get(path);
  if (cached && cached.mtimeMs === mtimeMs) return cached.dags;
  // A changed file gets a new URL, so that this process evaluates its new text.
  const url = `${pathToFileURL(path).href}${cached ? `?mtime=${mtimeMs}` : ''}`;
  takeRegisteredDags();
  const exports = (await import(url)) as Record<string, unknown>;
  const dags = takeRegisteredDags();
  for (const value of Object.values(exports)) {
    if (isDag(value) && !dags.includes(value)) dags.push(value);
  }
  loaded.set(path, { mtimeMs, dags });
  return dags;
}

/**
 * Loads every DAG file under `folder`. A broken file (a syntax error, a throw, an invalid DAG,
 * a dag_id another file already defines) is recorded in `errors`; the others still load.
 *
 * @example
 * ```ts
 * const bag = await loadDagBag('/srv/airlock/dags');
 * for (const e of bag.errors) console.error(`${e.file}: ${e.message}`);
 * ```
 */
export async function loadDagBag(folder: string): Promise<DagBag> {
  registerAirlockResolution();
  const dags = new Map<string, Dag>();
  const errors: DagImportError[] = [];
  for (const path of listDagFiles(folder)) {
    const file = relative(folder, path);
    try {
      const found = await loadFile(path);
      for (const d of found) {
        const existing = dags.get(d.id);
        if (existing && existing !== d) {
          throw new AirlockError(
            'AIRLOCK_ERR_DAG_INVALID',
            `the dag_id \`${d.id}\` is already defined in ${existing.fileloc ?? 'another file'}`,
          );
        }
      }
      for (const d of found) {
        d.fileloc = file;
        dags.set(d.id, d);
      }
    } catch (err) {
      takeRegisteredDags();
      errors.push({ file, message: describeError(err) });
    }
  }
  return { folder, dags, errors };
}

/**
 * Loads one DAG file (relative to `folder`) and returns the DAG `dagId` it defines; the task
 * runner loads only the file of its DAG.
 *
 * @throws AirlockError `AIRLOCK_ERR_DAG_NOT_FOUND`; whatever the file throws.
 */
export async function loadDagFromFile(folder: string, file: string, dagId: string): Promise<Dag> {
  registerAirlockResolution();
  const found = await loadFile(join(folder, file));
  const d = found.find((x) => x.id === dagId);
  if (!d) {
    throw new AirlockError('AIRLOCK_ERR_DAG_NOT_FOUND', `${file} defines no DAG \`${dagId}\``, {
      details: { dag_id: dagId },
    });
  }
  d.fileloc = file;
  return d;
}

/** A DAG as plain data. */
export function dagInfo(d: Dag): DagInfo {
  const order = d.topologicalOrder();
  return {
    dagId: d.id,
    fileloc: d.fileloc ?? '',
    description: d.description ?? null,
    tags: [...d.tags],
    schedule: d.schedule,
    timezone: d.timezone,
    startDate: d.startDate,
    endDate: d.endDate,
    catchup: d.catchup,
    maxActiveRuns: d.maxActiveRuns,
    isPausedUponCreation: d.isPausedUponCreation,
    params: d.params,
    callbacks: [
      ...(d.onSuccess ? (['success'] as const) : []),
      ...(d.onFailure ? (['failed'] as const) : []),
    ],
    tasks: order.map((id) => {
      const t = d.getTask(id);
      if (!t) throw new AirlockError('AIRLOCK_ERR_INTERNAL', `task \`${id}\` vanished`);
      return {
        taskId: t.id,
        description: t.description ?? null,
        upstream: [...t.upstream],
        downstream: [...t.downstream],
        ...t.settings,
      };
    }),
  };
}

/** A discovery as plain data, DAGs sorted by id. */
export function dagBagInfo(bag: DagBag): DagBagInfo {
  return {
    folder: bag.folder,
    dags: [...bag.dags.values()].map(dagInfo).sort((a, b) => a.dagId.localeCompare(b.dagId)),
    errors: bag.errors,
  };
}

/**
 * Finds the DAG `dagId` in `bag`.
 *
 * @throws AirlockError `AIRLOCK_ERR_DAG_NOT_FOUND` (naming the broken files, if any).
 */
export function requireDag(bag: DagBag, dagId: string): Dag {
  const d = bag.dags.get(dagId);
  if (d) return d;
  throw dagNotFound(bag.folder, bag.errors, dagId);
}

function dagNotFound(
  folder: string,
  errors: readonly DagImportError[],
  dagId: string,
): AirlockError {
  const broken = errors.length
    ? ` (${errors.length} file(s) failed to load: ${errors.map((e) => e.file).join(', ')}; see \`airlock dags list-import-errors\`)`
    : '';
  return new AirlockError(
    'AIRLOCK_ERR_DAG_NOT_FOUND',
    `no DAG \`${dagId}\` in ${folder}${broken}`,
    { details: { dag_id: dagId } },
  );
}

/** The entry file of a child process: `.ts` beside the sources, `.js` in `dist/`. */
export function siblingEntry(name: string): string {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return fileURLToPath(new URL(`./${name}${ext}`, import.meta.url));
}

/** Options of {@link discoverDagsInChild}. */
export interface DiscoverOptions {
  /** The deployment's environment (the child gets it without airlock's credentials). @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Masks the import errors (and descriptions), in a copy to which the secrets of `env` and
   * what the child resolves are added.
   * @default a new masker
   */
  masker?: SecretsMasker;
  /** Where a DAG file's top-level lookups are resolved. @default one built from `env` */
  lookup?: SupervisorLookup;
  /** @default 30000 */
  timeoutMs?: number;
}

/**
 * Loads the DAGs folder in a supervised child process (see `supervisor.ts`) and returns what it
 * found, as plain data, its import errors masked with the deployment's secrets and whatever the
 * DAG files resolved: long-lived processes (the server) and the CLI never import user code into
 * themselves, and a changed file is read fresh.
 *
 * @throws AirlockError `AIRLOCK_ERR_DAG_IMPORT_FAILED` when the child fails as a whole.
 * @example
 * ```ts
 * const { dags, errors } = await discoverDagsInChild('/srv/airlock/dags', { env, masker });
 * ```
 */
export async function discoverDagsInChild(
  folder: string,
  options: DiscoverOptions = {},
): Promise<DagBagInfo> {
  const env = options.env ?? process.env;
  const masker = options.masker ? options.masker.fork() : new SecretsMasker();
  // The supervisor (and the configuration it reads) is loaded here, not by a task process,
  // which imports this module only to load its DAG file.
  const { createSupervisorLookup, spawnSupervised } = await import('./supervisor.ts');
  const own = options.lookup === undefined ? createSupervisorLookup(env) : undefined;
  const lookup = options.lookup ?? (own as SupervisorLookup);
  try {
    return await new Promise<DagBagInfo>((resolve, reject) => {
      const { child, stderr, onMessage } = spawnSupervised(
        siblingEntry('discover-main'),
        [folder],
        {
          env,
          masker,
          lookup,
          timeoutMs: options.timeoutMs ?? 30_000,
        },
      );
      child.stdout?.resume();
      stderr.resume();
      let found: DagBagInfo | undefined;
      onMessage((message) => {
        const m = message as { type?: unknown; bag?: DagBagInfo } | null;
        if (m?.type === 'airlock:dagbag' && m.bag) found = m.bag;
      });
      child.on('error', (err) =>
        reject(
          new AirlockError(
            'AIRLOCK_ERR_DAG_IMPORT_FAILED',
            `cannot start the DAG discovery process (${(err as NodeJS.ErrnoException).code ?? err.name})`,
          ),
        ),
      );
      child.on('close', (code, signal) => {
        if (code === 0 && found) {
          resolve(maskBag(found, masker));
          return;
        }
        reject(
          new AirlockError(
            'AIRLOCK_ERR_DAG_IMPORT_FAILED',
            `the DAG discovery process for ${folder} failed (${signal ?? `exit ${code}`})`,
          ),
        );
      });
    });
  } finally {
    await own?.dispose().catch(() => {});
  }
}

/** The discovery with its free text (import errors, descriptions) masked. */
function maskBag(bag: DagBagInfo, masker: SecretsMasker): DagBagInfo {
  return {
    folder: bag.folder,
    dags: bag.dags.map((d) => ({
      ...d,
      description: d.description === null ? null : masker.redact(d.description),
      tasks: d.tasks.map((t) => ({
        ...t,
        description: t.description === null ? null : masker.redact(t.description),
      })),
    })),
    errors: bag.errors.map((e) => ({ file: e.file, message: masker.redact(e.message) })),
  };
}

/**
 * Finds the DAG `dagId` in a discovery.
 *
 * @throws AirlockError `AIRLOCK_ERR_DAG_NOT_FOUND` (naming the broken files, if any).
 */
export function requireDagInfo(bag: DagBagInfo, dagId: string): DagInfo {
  const d = bag.dags.find((x) => x.dagId === dagId);
  if (d) return d;
  throw dagNotFound(bag.folder, bag.errors, dagId);
}
