/**
 * @module server/v2/schemas
 * What the `/api/v2` operations share: Airflow 3's error bodies and responses, its paging query
 * (`limit` 50 by default, `offset`, multi-field `order_by`), its `*_pattern` filters (SQL `LIKE`
 * with `%`/`_` and `|` for OR, case-insensitive) and bulk bodies.
 */
import { z } from '@hono/zod-openapi';
import { AirlockError } from '../../errors.ts';

/** `HTTPExceptionResponse`: `{"detail": …}`. */
export const HttpExceptionSchema = z
  .object({ detail: z.union([z.string(), z.record(z.string(), z.unknown())]) })
  .openapi('HTTPExceptionResponse');

/** `HTTPValidationError`: FastAPI's 422 body. */
export const ValidationErrorSchema = z
  .object({
    detail: z.array(
      z.object({
        loc: z.array(z.union([z.string(), z.number().int()])),
        msg: z.string(),
        type: z.string(),
      }),
    ),
  })
  .openapi('HTTPValidationError');

const exception = (description: string) => ({
  description,
  content: { 'application/json': { schema: HttpExceptionSchema } },
});

/** The error responses of an operation, by status. */
export function errorResponses(...statuses: (400 | 401 | 403 | 404 | 409 | 422)[]) {
  const descriptions: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    409: 'Conflict',
  };
  const out: Record<string, unknown> = {};
  for (const status of statuses) {
    out[String(status)] =
      status === 422
        ? {
            description: 'Validation Error',
            content: { 'application/json': { schema: ValidationErrorSchema } },
          }
        : exception(descriptions[status] ?? 'Error');
  }
  return out as Record<
    string,
    { description: string; content: { 'application/json': { schema: z.ZodType } } }
  >;
}

/** A JSON response of `schema`. */
export function jsonResponse<T extends z.ZodType>(schema: T, description = 'Successful Response') {
  return { description, content: { 'application/json': { schema } } } as const;
}

/** The security of an operation that needs a signed-in user. */
export const SECURED = [{ OAuth2PasswordBearer: [] }, { HTTPBearer: [] }, { HTTPBasic: [] }];

/** A query parameter Airflow declares as a list (`?order_by=a&order_by=-b`); one value or many. */
export const stringList = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((v) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]))
  .openapi({ type: 'array', items: { type: 'string' } });

/** Airflow 3's paging query: `limit` (default 50), `offset`, `order_by`. */
export const pageQuery = {
  limit: z.coerce.number().int().min(0).default(50).openapi({ type: 'integer', default: 50 }),
  offset: z.coerce.number().int().min(0).default(0).openapi({ type: 'integer', default: 0 }),
  order_by: stringList,
};

/** One sort key: a field, descending when given as `-field`. */
interface SortKey {
  readonly field: string;
  readonly descending: boolean;
}

/**
 * The sort keys of `order_by`, each checked against `fields` (name → value of an item); the
 * default is `fallback`.
 *
 * @throws AirlockError `AIRLOCK_ERR_HTTP_BAD_REQUEST` naming the allowed fields (Airflow answers 400).
 */
function sortKeys(
  orderBy: readonly string[] | undefined,
  fields: readonly string[],
  fallback: string,
): SortKey[] {
  const given = orderBy && orderBy.length > 0 ? orderBy : [fallback];
  return given
    .flatMap((raw) => raw.split(','))
    .map((raw) => raw.trim())
    .filter(Boolean)
    .map((raw) => {
      const descending = raw.startsWith('-');
      const field = descending ? raw.slice(1) : raw;
      if (!fields.includes(field)) {
        throw new AirlockError(
          'AIRLOCK_ERR_HTTP_BAD_REQUEST',
          `Ordering with '${field}' is disallowed or the attribute does not exist on the model; one of ${fields.join(', ')}`,
        );
      }
      return { field, descending };
    });
}

/**
 * Sorts `items` by `order_by` (several keys, nulls first, code-point order) and pages them.
 *
 * @example
 * ```ts
 * sortAndPage(rows, { order_by: ['-key'], limit: 50, offset: 0 }, { key: (r) => r.key }, 'key');
 * ```
 */
export function sortAndPage<T>(
  items: readonly T[],
  query: { order_by?: readonly string[] | undefined; limit: number; offset: number },
  fields: Readonly<Record<string, (item: T) => unknown>>,
  fallback: string,
): T[] {
  const keys = sortKeys(query.order_by, Object.keys(fields), fallback);
  const value = (item: T, field: string) => {
    const v = fields[field]?.(item);
    return v === null || v === undefined ? '' : typeof v === 'number' ? v : String(v);
  };
  const sorted = [...items].sort((a, b) => {
    for (const { field, descending } of keys) {
      const x = value(a, field);
      const y = value(b, field);
      const order = x < y ? -1 : x > y ? 1 : 0;
      if (order !== 0) return descending ? -order : order;
    }
    return 0;
  });
  return sorted.slice(query.offset, query.offset + query.limit);
}

/**
 * A matcher for Airflow 3's `*_pattern` filters: SQL `LIKE` (`%` any run, `_` one character,
 * `\` escapes), case-insensitive as Airflow's `ILIKE`, with `|` separating alternatives; a pattern
 * without a wildcard matches as a substring, as Airflow wraps it in `%…%`. `undefined` matches all.
 *
 * @example
 * ```ts
 * likeMatcher('%customer_%')('big_customer_a'); // true
 * ```
 */
export function likeMatcher(pattern: string | null | undefined): (text: string) => boolean {
  if (!pattern) return () => true;
  const regexes = pattern
    .split('|')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      let source = '';
      let wildcard = false;
      for (let i = 0; i < p.length; i++) {
        const ch = p[i] as string;
        if (ch === '\\' && i + 1 < p.length) {
          source += (p[++i] as string).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        } else if (ch === '%') {
          source += '.*';
          wildcard = true;
        } else if (ch === '_') {
          source += '.';
          wildcard = true;
        } else source += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      }
      return new RegExp(wildcard ? `^${source}$` : source, 'isu');
    });
  return (text) => regexes.some((r) => r.test(text));
}

/** What a bulk action does when an entity exists (create) or does not (update, delete). */
export const BulkOnExistence = z
  .enum(['fail', 'skip', 'overwrite'])
  .openapi('BulkActionOnExistence');
export const BulkOnNonExistence = z.enum(['fail', 'skip']).openapi('BulkActionNotOnExistence');

/** `BulkActionResponse`. */
export const BulkActionResponseSchema = z
  .object({
    success: z.array(z.string()),
    errors: z.array(z.record(z.string(), z.unknown())),
  })
  .openapi('BulkActionResponse');

/** `BulkResponse`: one entry per action kind that the request had, else `null`. */
export const BulkResponseSchema = z
  .object({
    create: BulkActionResponseSchema.nullable().optional(),
    update: BulkActionResponseSchema.nullable().optional(),
    delete: BulkActionResponseSchema.nullable().optional(),
  })
  .openapi('BulkResponse');

/** The bulk body of `PATCH /variables` or `/connections` for an entity schema. */
export function bulkBody<T extends z.ZodType>(name: string, entity: T) {
  return z
    .object({
      actions: z.array(
        z.discriminatedUnion('action', [
          z
            .object({
              action: z.literal('create'),
              entities: z.array(entity),
              action_on_existence: BulkOnExistence.default('fail'),
            })
            .strict()
            .openapi(`BulkCreateAction_${name}_`),
          z
            .object({
              action: z.literal('update'),
              entities: z.array(entity),
              action_on_non_existence: BulkOnNonExistence.default('fail'),
              update_mask: z.array(z.string()).nullable().optional(),
            })
            .strict()
            .openapi(`BulkUpdateAction_${name}_`),
          z
            .object({
              action: z.literal('delete'),
              entities: z.array(z.union([z.string(), entity])),
              action_on_non_existence: BulkOnNonExistence.default('fail'),
            })
            .strict()
            .openapi(`BulkDeleteAction_${name}_`),
        ]),
      ),
    })
    .strict()
    .openapi(`BulkBody_${name}_`);
}

/** What a bulk endpoint does with one entity of each action kind. */
export interface BulkHandlers<T> {
  /** The entity's id (key, connection_id). */
  idOf(entity: T): string;
  exists(id: string): Promise<boolean>;
  /** Creates it; `overwrite` replaces an existing one (else a conflict). */
  create(entity: T, overwrite: boolean): Promise<void>;
  /** Applies it to the existing one under an optional `update_mask`. */
  update(entity: T, mask: readonly string[] | undefined): Promise<void>;
  /** Deletes it; `false` when it did not exist. */
  remove(id: string): Promise<boolean>;
  /** Throws the not-found error when `id` does not exist. */
  requireExisting(id: string): Promise<unknown>;
}

type BulkAction<T> =
  | { action: 'create'; entities: T[]; action_on_existence: 'fail' | 'skip' | 'overwrite' }
  | {
      action: 'update';
      entities: T[];
      action_on_non_existence: 'fail' | 'skip';
      update_mask?: string[] | null | undefined;
    }
  | { action: 'delete'; entities: (string | T)[]; action_on_non_existence: 'fail' | 'skip' };

/**
 * Runs the actions of a bulk body (Airflow 3's `PATCH /variables`, `/connections`) in order: each
 * entity's success or error is reported, and an error does not stop the others.
 */
export async function runBulk<T>(
  actions: readonly BulkAction<T>[],
  handlers: BulkHandlers<T>,
  redact: (text: string) => string,
): Promise<z.infer<typeof BulkResponseSchema>> {
  const out: z.infer<typeof BulkResponseSchema> = { create: null, update: null, delete: null };
  for (const action of actions) {
    if (action.action === 'create') {
      out.create = await eachEntity(
        action.entities,
        handlers.idOf,
        async (e, id) => {
          if (action.action_on_existence === 'skip' && (await handlers.exists(id))) return false;
          await handlers.create(e, action.action_on_existence === 'overwrite');
          return true;
        },
        redact,
      );
    } else if (action.action === 'update') {
      out.update = await eachEntity(
        action.entities,
        handlers.idOf,
        async (e, id) => {
          if (action.action_on_non_existence === 'skip' && !(await handlers.exists(id))) {
            return false;
          }
          await handlers.update(e, action.update_mask ?? undefined);
          return true;
        },
        redact,
      );
    } else {
      out.delete = await eachEntity(
        action.entities,
        (e) => (typeof e === 'string' ? e : handlers.idOf(e)),
        async (_e, id) => {
          if (await handlers.remove(id)) return true;
          if (action.action_on_non_existence !== 'skip') await handlers.requireExisting(id);
          return false;
        },
        redact,
      );
    }
  }
  return out;
}

/** One bulk action's results, built as the entities are processed. */
export interface BulkResults {
  success: string[];
  errors: Record<string, unknown>[];
}

/**
 * Runs `fn` for each id of a bulk action: a success adds the id; a coded error adds
 * `{error, status_code}` (Airflow's shape) and the action goes on with the next entity.
 */
export async function eachEntity<T>(
  entities: readonly T[],
  idOf: (entity: T) => string,
  fn: (entity: T, id: string) => Promise<boolean>,
  redact: (text: string) => string,
): Promise<BulkResults> {
  const out: BulkResults = { success: [], errors: [] };
  for (const entity of entities) {
    const id = idOf(entity);
    try {
      if (await fn(entity, id)) out.success.push(id);
    } catch (err) {
      if (!(err instanceof AirlockError)) throw err;
      const status =
        err.code === 'AIRLOCK_ERR_HTTP_CONFLICT'
          ? 409
          : err.code === 'AIRLOCK_ERR_HTTP_NOT_FOUND'
            ? 404
            : err.code === 'AIRLOCK_ERR_HTTP_FORBIDDEN'
              ? 403
              : 400;
      out.errors.push({ error: redact(err.message), status_code: status });
    }
  }
  return out;
}
