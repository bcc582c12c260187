/**
 * @module server/openapi-validation
 * Path and query validation of the `/api/v1` and `/api/v2` operations in one synchronous step.
 *
 * `@hono/zod-openapi` validates each part of a request in a middleware of its own, each an
 * `async` function around zod's `safeParseAsync` and an awaited hook: on `GET
 * /api/v1/variables/{key}` that machinery cost as much as the authentication and the database
 * read together. {@link validateSynchronously} replaces it, for the path parameters and the query
 * string, with one middleware that parses with zod's synchronous `safeParse` (falling back to the
 * asynchronous parse for a schema that needs it) and calls the same hook with the same result, so
 * errors answer exactly as before. The route is still declared once (its schemas validate the
 * request and generate the served document); a request body, headers and cookies are left to the
 * library's validators.
 */
import type { OpenAPIHono, RouteConfig } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler, Next } from 'hono';
import type { AppEnv } from './context.ts';

/** The result a validation hook is given (as `@hono/zod-validator` builds it). */
type HookInput = { success: boolean; data?: unknown; error?: unknown; target: string };
/** A validation hook: a `Response` (or `{ response }`) answers the request instead. */
export type ValidationHook = (result: HookInput, c: Context<AppEnv>) => unknown | Promise<unknown>;

interface SafeParser {
  safeParse(value: unknown): { success: boolean; data?: unknown; error?: unknown };
  safeParseAsync(value: unknown): Promise<{ success: boolean; data?: unknown; error?: unknown }>;
}

type Target = 'param' | 'query';

/** What Hono's own validator reads for `target`. */
function partOf(c: Context<AppEnv>, target: Target): Record<string, unknown> {
  if (target === 'param') return c.req.param() as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [name, values] of Object.entries(c.req.queries())) {
    out[name] = values.length === 1 ? values[0] : values;
  }
  return out;
}

/** The response a hook's answer stands for, if any. */
function answerOf(answer: unknown): Response | undefined {
  if (answer instanceof Response) return answer;
  if (answer && typeof answer === 'object' && 'response' in answer) {
    const response = (answer as { response: unknown }).response;
    if (response instanceof Response) return response;
  }
  return undefined;
}

/**
 * Checks one part; `undefined` when it is valid (its data then added to the request), else the
 * response that answers instead. A hook that is not synchronous makes this a promise.
 */
function check(
  c: Context<AppEnv>,
  target: Target,
  schema: SafeParser,
  hook: ValidationHook,
): Response | undefined | Promise<Response | undefined> {
  const value = partOf(c, target);
  const settle = (result: { success: boolean; data?: unknown; error?: unknown }) => {
    const finish = (answer: unknown): Response | undefined => {
      const response = answerOf(answer);
      if (response) return response;
      if (!result.success) return c.json(result, 400);
      c.req.addValidatedData(target, result.data as never);
      return undefined;
    };
    const answer = hook({ data: value, ...result, target }, c);
    return answer instanceof Promise ? answer.then(finish) : finish(answer);
  };
  let result: { success: boolean; data?: unknown; error?: unknown };
  try {
    result = schema.safeParse(value);
  } catch {
    // A schema with an asynchronous refinement or transform.
    return schema.safeParseAsync(value).then(settle);
  }
  return settle(result);
}

/** The middleware that validates `parts` in order, then runs the rest of the route. */
function partsValidator(
  parts: readonly (readonly [Target, SafeParser])[],
  hook: ValidationHook,
): MiddlewareHandler<AppEnv> {
  return (c, next: Next) => {
    for (let i = 0; i < parts.length; i++) {
      const [target, schema] = parts[i] as readonly [Target, SafeParser];
      const outcome = check(c, target, schema, hook);
      if (outcome instanceof Promise) {
        // Rare: finish the remaining parts asynchronously.
        return (async () => {
          let answer = await outcome;
          for (let j = i + 1; !answer && j < parts.length; j++) {
            const [t, s] = parts[j] as readonly [Target, SafeParser];
            answer = await check(c, t, s, hook);
          }
          return answer ?? next();
        })();
      }
      if (outcome) return Promise.resolve(outcome);
    }
    return next();
  };
}

/**
 * Makes `api.openapi(route, handler, hook?)` validate the route's path parameters and query
 * string in one synchronous middleware (see the module), with `defaultHook` unless the route
 * passes its own. A route that declares headers or cookies keeps the library's validation whole.
 *
 * @example
 * ```ts
 * const v1 = new OpenAPIHono<AppEnv>({ defaultHook });
 * validateSynchronously(v1, defaultHook);
 * ```
 */
export function validateSynchronously(api: OpenAPIHono<AppEnv>, defaultHook: ValidationHook): void {
  const original = api.openapi.bind(api) as (
    route: RouteConfig,
    handler: unknown,
    hook?: unknown,
  ) => unknown;
  const replacement = (route: RouteConfig, handler: unknown, hook?: ValidationHook) => {
    const request = route.request;
    if (!request || request.headers || request.cookies || (!request.params && !request.query)) {
      return original(route, handler, hook);
    }
    const parts: (readonly [Target, SafeParser])[] = [];
    if (request.query) parts.push(['query', request.query as unknown as SafeParser]);
    if (request.params) parts.push(['param', request.params as unknown as SafeParser]);
    const { middleware: own, hide, ...documented } = route;
    if (!hide) api.openAPIRegistry.registerPath(documented as RouteConfig);
    const { params: _params, query: _query, ...rest } = request;
    const middleware = [
      ...(own ? (Array.isArray(own) ? own : [own]) : []),
      partsValidator(parts, hook ?? defaultHook),
    ];
    return original(
      {
        ...documented,
        hide: true,
        request: Object.keys(rest).length > 0 ? rest : undefined,
        middleware,
      } as RouteConfig,
      handler,
      hook,
    );
  };
  (api as unknown as { openapi: typeof replacement }).openapi = replacement;
}
