/**
 * @module server/error-handler
 * The only place that turns an error into an HTTP response: an `AirlockError`'s code gives the
 * status (`ERROR_CODES[code].status`), anything else is a 500 `AIRLOCK_ERR_INTERNAL` whose
 * message is not shown (it may quote a value). Every body passes through the process masker.
 *
 * API paths (`/api/…`, `/health`) answer with the problem JSON of Airflow's REST API,
 * `{ code, title, detail, status }`; pages answer with an HTML error page.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { AirlockError, ERROR_CODES, type ErrorCode, isAirlockError } from '../errors.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import type { AppEnv, ProblemBody } from './context.ts';

export type { ProblemBody } from './context.ts';

import { renderErrorPage } from './ui/pages.ts';

/** Turns any thrown value into a coded error that is safe to show. */
export function toAirlockError(err: unknown): AirlockError {
  if (isAirlockError(err)) return err;
  if (err instanceof HTTPException) {
    const code: ErrorCode =
      err.status === 404
        ? 'AIRLOCK_ERR_HTTP_NOT_FOUND'
        : err.status === 401
          ? 'AIRLOCK_ERR_HTTP_UNAUTHENTICATED'
          : err.status === 403
            ? 'AIRLOCK_ERR_HTTP_FORBIDDEN'
            : err.status < 500
              ? 'AIRLOCK_ERR_HTTP_BAD_REQUEST'
              : 'AIRLOCK_ERR_INTERNAL';
    return new AirlockError(
      code,
      code === 'AIRLOCK_ERR_INTERNAL' ? 'internal error' : 'the request was refused',
    );
  }
  const name = err instanceof Error ? err.name : typeof err;
  return new AirlockError(
    'AIRLOCK_ERR_INTERNAL',
    `unexpected ${name}; this is a bug in airlock (the details are in the server log)`,
  );
}

/** The problem body of an error, masked. */
export function problemOf(err: AirlockError, masker: SecretsMasker): ProblemBody {
  const { status, summary } = ERROR_CODES[err.code];
  return {
    code: err.code,
    title: summary,
    detail: masker.redact(err.message),
    status,
  };
}

/** Whether a path is answered with JSON (the API and health) rather than HTML. */
export function isApiPath(path: string): boolean {
  return path.startsWith('/api/') || path === '/health';
}

/**
 * Builds the app's `onError` handler.
 *
 * @example
 * ```ts
 * app.onError(createErrorHandler(masker, logger));
 * ```
 */
export function createErrorHandler(
  masker: SecretsMasker,
  log?: (err: unknown, coded: AirlockError) => void,
): (err: unknown, c: Context<AppEnv>) => Response | Promise<Response> {
  return (err, c) => {
    const coded = toAirlockError(err);
    if (coded.code === 'AIRLOCK_ERR_INTERNAL') log?.(err, coded);
    const problem = problemOf(coded, masker);
    if (coded.code === 'AIRLOCK_ERR_HTTP_RATE_LIMITED' && coded.details?.retryAfter) {
      c.header('Retry-After', String(coded.details.retryAfter));
    }
    if (isApiPath(c.req.path)) {
      return c.json(problem, problem.status as 400);
    }
    if (problem.status === 401) {
      const next = encodeURIComponent(c.req.path);
      return c.redirect(`/login?next=${next}`, 303);
    }
    return c.html(renderErrorPage(c, problem), problem.status as 400);
  };
}
