/**
 * @module server/error-handler
 * The only place that turns an error into an HTTP response: an `AirlockError`'s code gives the
 * status (`ERROR_CODES[code].status`), anything else is a 500 `AIRLOCK_ERR_INTERNAL` whose
 * message is not shown (it may quote a value). Every body passes through the process masker.
 *
 * `/api/v1/…` and `/health` answer with the problem JSON of Airflow's stable REST API (media type
 * `application/problem+json`; `type`, `title`, `status`, `detail`, `instance`, plus airlock's
 * `code`); `/api/v2/…` and `/auth/…` answer as Airflow 3's FastAPI does, `{ "detail": … }`; pages
 * answer with an HTML error page. An API 401 carries a `WWW-Authenticate` challenge (unless the
 * request came with a session cookie: a browser whose session ended is sent to sign in instead).
 */
import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import { HTTPException } from 'hono/http-exception';
import { AirlockError, ERROR_CODES, type ErrorCode, isAirlockError } from '../errors.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import { databaseError } from '../metastore/store-errors.ts';
import { challengeOf, SESSION_COOKIE } from './auth/middleware.ts';
import type { AppEnv, ProblemBody } from './context.ts';

export type { ProblemBody } from './context.ts';

import { renderErrorPage } from './ui/pages.ts';

/**
 * Turns any thrown value into a coded error that is safe to show: a database error no store
 * method mapped is a store error (an outage is a 503, not a bug).
 */
export function toAirlockError(err: unknown): AirlockError {
  if (isAirlockError(err)) return err;
  const stored = databaseError(err, "the server's database", 'answer the request');
  if (stored) return stored;
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

/** The section of Airflow's REST API reference that documents each error status (`type`). */
const AIRFLOW_ERROR_TYPES: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  401: 'Unauthenticated',
  403: 'PermissionDenied',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'AlreadyExists',
  500: 'Unknown',
};
const AIRFLOW_ERRORS_URL =
  'https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html#section/Errors/';

/** The problem body of an error, masked (`instance`: the request path, when known). */
export function problemOf(
  err: AirlockError,
  masker: SecretsMasker,
  instance?: string,
): ProblemBody {
  const { status, summary } = ERROR_CODES[err.code];
  const section = AIRFLOW_ERROR_TYPES[status];
  return {
    type: section ? `${AIRFLOW_ERRORS_URL}${section}` : 'about:blank',
    code: err.code,
    title: summary,
    detail: masker.redact(err.message),
    status,
    ...(instance === undefined ? {} : { instance }),
  };
}

/** Whether a path is answered with JSON (the API and health) rather than HTML. */
export function isApiPath(path: string): boolean {
  return path.startsWith('/api/') || path === '/health' || path.startsWith('/auth/');
}

/** Whether a path is answered as Airflow 3's API answers errors (`{"detail": …}`). */
export function isDetailPath(path: string): boolean {
  return path.startsWith('/api/v2/') || path === '/api/v2' || path.startsWith('/auth/');
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
    if (err instanceof HTTPException && err.status === 400 && isDetailPath(c.req.path)) {
      // A body the JSON validator could not read: FastAPI's 422 `json_invalid`, as Airflow 3.
      return c.json(
        {
          detail: [
            {
              loc: ['body'],
              msg: 'the body is not valid JSON, or not sent as application/json',
              type: 'json_invalid',
            },
          ],
        },
        422,
      );
    }
    const coded = toAirlockError(err);
    // What the operator must see: a bug, or the database failing a request (its message is coded
    // and quotes no value).
    if (ERROR_CODES[coded.code].status >= 500) log?.(err, coded);
    const problem = problemOf(coded, masker, c.req.path);
    if (coded.code === 'AIRLOCK_ERR_HTTP_RATE_LIMITED' && coded.details?.retryAfter) {
      c.header('Retry-After', String(coded.details.retryAfter));
    }
    if (isApiPath(c.req.path)) {
      if (problem.status === 401 && !getCookie(c, SESSION_COOKIE)) {
        c.header('WWW-Authenticate', challengeOf(coded));
      }
      if (isDetailPath(c.req.path)) {
        return c.json({ detail: problem.detail }, problem.status as 400);
      }
      return c.body(JSON.stringify(problem), problem.status as 400, {
        'Content-Type': 'application/problem+json',
      });
    }
    if (problem.status === 401) {
      const next = encodeURIComponent(c.req.path);
      return c.redirect(`/login?next=${next}`, 303);
    }
    return c.html(renderErrorPage(c, problem), problem.status as 400);
  };
}
