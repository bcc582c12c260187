/**
 * Bundles the task process (see `src/pipelines/task-entry.ts`): `dist/pipelines/task-bundle.js`
 * and the static graph under it become one file, `task-bundle-main.js`, so that a try compiles
 * (or reads from the compile cache) one file instead of resolving and loading dozens of modules.
 * What the task process may load later (a backend, for an in-process lookup) stays in chunks
 * beside it (`task-bundle-chunk-*.js`). `croner` (which every DAG file needs) is bundled too;
 * other packages (zod, the SDKs) and Node's own modules stay imports. Runs after `tsc` in
 * `npm run build`, and on the test run's staging build.
 *
 * Usage: `node scripts/bundle-task.ts [dist folder]` (default `dist`).
 */
import { readdirSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { rolldown } from 'rolldown';

const MAIN = 'task-bundle-main';
const CHUNK = 'task-bundle-chunk-';
/** Packages bundled into the task process. */
const INLINED = new Set(['croner']);

/** Bundles the task process inside the built package at `dist`, replacing an earlier bundle. */
export async function bundleTaskProcess(dist: string): Promise<void> {
  const folder = join(dist, 'pipelines');
  for (const name of readdirSync(folder)) {
    if (name === `${MAIN}.js` || name.startsWith(CHUNK)) rmSync(join(folder, name));
  }
  const bundle = await rolldown({
    input: { [MAIN]: join(folder, 'task-bundle.js') },
    platform: 'node',
    logLevel: 'warn',
    onLog: (level, log, handler) => {
      // A module some file imports lazily and another statically is simply in the bundle.
      if (log.code !== 'INEFFECTIVE_DYNAMIC_IMPORT') handler(level, log);
    },
    plugins: [
      {
        // The package says `sideEffects: false` (for its users' bundlers), and the bundler reads
        // that before its own options; but the task process's modules have effects (publishing
        // the DAG API, running the try), which must run as they do unbundled, in import order.
        name: 'airlock-module-effects',
        transform: (code) => ({ code, moduleSideEffects: true }),
      },
    ],
    external: (id) =>
      id.startsWith('node:') ||
      builtinModules.includes(id) ||
      !(id.startsWith('.') || isAbsolute(id) || INLINED.has(id)),
  });
  try {
    await bundle.write({
      dir: folder,
      format: 'esm',
      entryFileNames: '[name].js',
      chunkFileNames: `${CHUNK}[name]-[hash].js`,
      // The entry's whole static graph in one chunk; what loads later, in chunks of its own.
      codeSplitting: { groups: [{ name: 'static', tags: ['$initial'] }] },
    });
  } finally {
    await bundle.close();
  }
}

if (import.meta.main) await bundleTaskProcess(resolve(process.argv[2] ?? 'dist'));
