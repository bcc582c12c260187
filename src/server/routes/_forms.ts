/**
 * @module server/routes/_forms
 * What the pages' form handlers share: reading a posted form or upload, Post/Redirect/Get with a
 * flash message, and a private temporary file for the Airflow-exact file readers.
 */
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'hono';
import { AirlockError, isAirlockError } from '../../errors.ts';
import type { AppDeps, AppEnv } from '../context.ts';

/** The posted form's string fields. */
export async function form(c: Context): Promise<Record<string, string>> {
  const body = await c.req.parseBody();
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** Redirects (303) to `path` with a flash message. */
export function back(c: Context, path: string, kind: 'ok' | 'error', text: string): Response {
  const sep = path.includes('?') ? '&' : '?';
  return c.redirect(`${path}${sep}${kind}=${encodeURIComponent(text)}`, 303);
}

/** Runs a form action; a coded error goes back to `path` as a flash message. */
export async function action(
  c: Context<AppEnv>,
  deps: AppDeps,
  path: string,
  fn: () => Promise<string>,
): Promise<Response> {
  try {
    return back(c, path, 'ok', await fn());
  } catch (err) {
    if (!isAirlockError(err) || err.code.startsWith('AIRLOCK_ERR_HTTP_CSRF')) throw err;
    if (err.code === 'AIRLOCK_ERR_HTTP_FORBIDDEN') throw err;
    return back(c, path, 'error', deps.masker.redact(err.message));
  }
}

/** The text of the uploaded `file` field. */
export async function uploadedText(c: Context): Promise<string> {
  const body = await c.req.parseBody();
  const file = body.file;
  if (file instanceof File) return file.text();
  if (typeof file === 'string') return file;
  throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', 'choose a file to import');
}

/** Writes an upload to a private temporary file for the Airflow-exact file readers. */
export async function withTempFile<T>(text: string, fn: (path: string) => Promise<T>): Promise<T> {
  const path = join(tmpdir(), `airlock-import-${randomBytes(8).toString('hex')}.json`);
  writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
  try {
    return await fn(path);
  } finally {
    rmSync(path, { force: true });
  }
}
