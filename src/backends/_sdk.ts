/**
 * @module backends/_sdk
 * Loading a backend's SDK on first use. The cloud SDKs are optional peer dependencies: a library
 * user installs only the one for their store, and a backend whose SDK is missing fails with one
 * coded line naming the package to install (as Powertools Parameters does), instead of Node's
 * module-resolution error.
 */
import { AirlockError } from '../errors.ts';

/** Whether `err` is Node's "cannot find package `pkg`" (ESM `import` or CommonJS `require`). */
function isMissingPackage(err: unknown, pkg: string): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  const message = err instanceof Error ? err.message : '';
  return message.includes(`'${pkg}'`) || message.includes(`"${pkg}"`);
}

/**
 * Runs `load` (a literal `import('pkg')`, so that bundlers still see it) and turns a missing
 * `pkg` into `AIRLOCK_ERR_BACKEND_SDK_MISSING`.
 *
 * @throws AirlockError `AIRLOCK_ERR_BACKEND_SDK_MISSING` when `pkg` is not installed; whatever
 *   else `load` throws, unchanged.
 * @example
 * ```ts
 * const sdk = await loadSdk('aws-ssm', '@aws-sdk/client-ssm', () => import('@aws-sdk/client-ssm'));
 * ```
 */
export async function loadSdk<T>(
  backend: string,
  pkg: string,
  load: () => Promise<T> | T,
): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (!isMissingPackage(err, pkg)) throw err;
    throw new AirlockError(
      'AIRLOCK_ERR_BACKEND_SDK_MISSING',
      `${backend} needs the npm package ${pkg}, which is not installed: run \`npm install ${pkg}\``,
      { details: { backend, package: pkg } },
    );
  }
}
