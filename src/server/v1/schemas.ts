/**
 * @module server/v1/schemas
 * The schemas of `/api/v1`, under Airflow 2's component names (`Variable`, `DAGRun`, …) and
 * compatible with Airflow 2.10's published ones (a test compares them, field by field), and the
 * pieces every v1 operation shares: the problem body of an error, paging, `update_mask`, path
 * parameters with Airflow's names.
 */
import { z } from '@hono/zod-openapi';
import { ERROR_CODES } from '../../errors.ts';

/** Airflow 2's `Error` (RFC 7807 problem details), plus airlock's `code`. */
export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    code: z.enum(Object.keys(ERROR_CODES) as [string, ...string[]]),
  })
  .openapi('Error');

const ERROR_DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: 'Client specified an invalid argument.',
  401: 'Request not authenticated due to missing, invalid, authentication info.',
  403: 'Client does not have sufficient permission.',
  404: 'A specified resource is not found.',
  409: 'An existing resource conflicts with the request.',
  503: 'The metastore does not answer.',
};

type Problem = {
  description: string;
  content: { 'application/problem+json': { schema: typeof ProblemSchema } };
};

/** The error responses of an operation, by status (Airflow's problem body). */
export function problems(...statuses: (400 | 401 | 403 | 404 | 409 | 503)[]) {
  const out: Record<string, Problem> = {};
  for (const status of statuses) {
    out[String(status)] = {
      description: ERROR_DESCRIPTIONS[status] ?? 'Error',
      content: { 'application/problem+json': { schema: ProblemSchema } },
    };
  }
  return out;
}

/** A JSON response of `schema`. */
export function ok<T extends z.ZodType>(schema: T, description = 'Success.') {
  return { description, content: { 'application/json': { schema } } } as const;
}

/** A `204 No Content` answer. */
export const NO_CONTENT = { description: 'Success.' } as const;

/** A JSON request body of `schema`. */
export function body<T extends z.ZodType>(schema: T, required = true) {
  return { content: { 'application/json': { schema } }, required } as const;
}

/** A path parameter with Airflow's name. */
export function pathParam(name: string) {
  return z.string().openapi({ param: { name, in: 'path' } });
}

/** A query parameter given once or repeated (`?tags=a&tags=b`). */
export const repeated = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .openapi({ type: 'array', items: { type: 'string' } });

const int = (description: string, fallback: number, maximum?: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a non-negative integer')
    .optional()
    .openapi({
      type: 'integer',
      minimum: 0,
      ...(maximum === undefined ? {} : { maximum }),
      default: fallback,
      description,
    });

/** Airflow 2's paging query (`limit` 100 by default, at most 1000; `offset`). */
export const pageQuery = {
  limit: int('The numbers of items to return (at most 1000).', 100, 1000),
  offset: int('The number of items to skip before starting to collect the result set.', 0),
};

/** `order_by`: one of `fields`, `-` in front to reverse. */
export function orderByQuery(fields: readonly string[]) {
  return z
    .string()
    .optional()
    .openapi({
      description: `The field to order by: ${fields.join(', ')}; prefix \`-\` to reverse.`,
      type: 'string',
    });
}

/** `update_mask`: the fields to change (comma-separated or repeated). */
export const updateMaskQuery = repeated.openapi({
  description: 'The fields to update (comma-separated or repeated); all given fields by default.',
});

/** A date-time query filter. */
export const dateQuery = z
  .string()
  .refine((v) => !Number.isNaN(Date.parse(v)), 'must be an ISO-8601 date-time')
  .optional()
  .openapi({ type: 'string', format: 'date-time' });

/** A boolean query parameter (`true`/`false`). */
export const boolQuery = z.enum(['true', 'false']).optional().openapi({ type: 'boolean' });

/** A date-time the API returns. */
export const dateTime = z.string().openapi({ format: 'date-time' });
/** A date-time the API returns, or `null`. */
export const nullableDateTime = dateTime.nullable();

/** `CollectionInfo`'s field. */
export const totalEntries = { total_entries: z.number().int() };
/** A page's `limit` (1 to 1000, 100 by default) and `offset`, as Airflow 2 reads them. */
export function limitOffset(q: { limit?: string | undefined; offset?: string | undefined }) {
  return {
    limit: Math.min(Math.max(Number(q.limit ?? 100) || 100, 1), 1000),
    offset: Math.max(Number(q.offset ?? 0) || 0, 0),
  };
}
