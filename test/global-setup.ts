/**
 * Builds `dist/` once before the tests, so that CLI tests run the executable `npx airlock`
 * runs, compiled from the current sources. It builds over the previous build instead of
 * deleting it, since another test run may be using it. Type errors do not stop the build here
 * (`npm test` type-checks before it runs vitest); a build that emits nothing does.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export default function setup(): void {
  const root = resolve(import.meta.dirname, '..');
  const result = spawnSync(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], {
    cwd: root,
    encoding: 'utf8',
  });
  const bin = join(root, 'dist/cli/bin.js');
  if (existsSync(bin)) chmodSync(bin, 0o755);
  if (!existsSync(bin)) {
    throw new Error(`the build emitted no dist/cli/bin.js:\n${result.stdout}${result.stderr}`);
  }
}
