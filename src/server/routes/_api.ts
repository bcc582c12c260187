/**
 * @module server/routes/_api
 * Helpers shared by the API routes: JSON bodies, pagination (`limit`, `offset`, `order_by`),
 * `update_mask`.
 */
import type { Context } from 'hono';
import { AirlockError } from '../../errors.ts';
import { safeJsonParse } from '../../util/json.ts';

function bad(message: string): AirlockError {
  return new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', message);
}

/** The request's JSON object body. */
export async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  const parsed = safeJsonParse(text);
  if (!parsed.ok) throw bad('the request body is not valid JSON');
  const value = parsed.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw bad('the request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** A string field: `undefined` when absent; `null` allowed when `nullable`. */
export function stringField(
  body: Record<string, unknown>,
  name: string,
  options: { required?: boolean; nullable?: boolean } = {},
): string | null | undefined {
  const value = body[name];
  if (value === undefined || (value === null && options.nullable)) {
    if (options.required) throw bad(`\`${name}\` is required`);
    return value as null | undefined;
  }
  if (typeof value !== 'string') throw bad(`\`${name}\` must be a string`);
  return value;
}

/** Pagination of a list. */
export interface Page {
  readonly limit: number;
  readonly offset: number;
  readonly orderBy: string;
  readonly descending: boolean;
}

/** The default and largest page size (Airflow's `maximum_page_limit`). */
export const PAGE_LIMIT = { default: 100, maximum: 1000 } as const;

/** Reads `limit`, `offset` and `order_by` (a field, `-` for descending). */
export function pageOf(c: Context, orderFields: readonly string[]): Page {
  const int = (name: string, fallback: number) => {
    const raw = c.req.query(name);
    if (raw === undefined || raw === '') return fallback;
    if (!/^\d+$/.test(raw)) throw bad(`\`${name}\` must be a non-negative integer`);
    return Number(raw);
  };
  const limit = Math.min(int('limit', PAGE_LIMIT.default), PAGE_LIMIT.maximum);
  const offset = int('offset', 0);
  const raw = c.req.query('order_by') ?? orderFields[0] ?? '';
  const descending = raw.startsWith('-');
  const orderBy = descending ? raw.slice(1) : raw;
  if (!orderFields.includes(orderBy)) {
    throw bad(`\`order_by\` must be one of ${orderFields.join(', ')} (prefix \`-\` to reverse)`);
  }
  return { limit, offset, orderBy, descending };
}

/**
 * Sorts (code-point order, nulls first) and slices `items` as `page` says: for lists held in
 * memory (the DAGs of a discovery); the metastore's lists are paged in SQL.
 */
export function paginate<T>(
  items: readonly T[],
  page: Page,
  field: (item: T, name: string) => unknown,
): T[] {
  const key = (item: T) => {
    const v = field(item, page.orderBy);
    return v === null || v === undefined ? '' : typeof v === 'number' ? v : String(v);
  };
  const sorted = [...items].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    const order = x < y ? -1 : x > y ? 1 : 0;
    return page.descending ? -order : order;
  });
  return sorted.slice(page.offset, page.offset + page.limit);
}

/** The fields of `update_mask` (comma-separated or repeated); `undefined` when absent. */
export function updateMask(c: Context, allowed: readonly string[]): Set<string> | undefined {
  return maskFields(c.req.queries('update_mask'), allowed);
}

/**
 * The fields of an `update_mask` given as a list (each item may be comma-separated), checked
 * against `allowed`; `undefined` when absent or empty.
 */
export function maskFields(
  values: readonly string[] | undefined,
  allowed: readonly string[],
): Set<string> | undefined {
  if (!values || values.length === 0) return undefined;
  const fields = new Set(
    values
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter(Boolean),
  );
  for (const field of fields) {
    if (!allowed.includes(field)) {
      throw bad(`\`update_mask\` field \`${field}\` is not one of ${allowed.join(', ')}`);
    }
  }
  return fields;
}
