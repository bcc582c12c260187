/**
 * @module backends/_options
 * Small zod pieces shared by the backends' option schemas (Airflow kwargs are snake_case and
 * accept JSON `null` where Python accepts `None`).
 */
import { z } from 'zod';
import { ConfigError } from '../errors.ts';

/** A path or prefix that `null` disables (Airflow: `None` turns that kind of lookup off). */
export const nullablePrefix = (fallback: string) => z.string().nullable().default(fallback);

/** An optional string that may also be given as JSON `null`. */
export const optionalString = () => z.string().nullable().optional();

/** A regular expression source, checked to compile (Airflow's `*_lookup_pattern`). */
export const lookupPattern = () =>
  z
    .string()
    .nullable()
    .optional()
    .refine(
      (value) => {
        if (value === null || value === undefined) return true;
        try {
          new RegExp(value, 'iu');
          return true;
        } catch {
          return false;
        }
      },
      { message: 'is not a valid regular expression' },
    );

/**
 * Whether `id` passes an Airflow lookup pattern: Python `re.match(pattern, id, re.IGNORECASE)`,
 * which anchors at the start only.
 */
export function matchesLookupPattern(pattern: string | null | undefined, id: string): boolean {
  if (pattern === null || pattern === undefined || pattern === '') return true;
  return new RegExp(`^(?:${pattern})`, 'iu').test(id);
}

/**
 * Parses a backend's options, turning zod's issues into one {@link ConfigError} whose lines
 * name the kwarg and the problem, never the value.
 */
export function parseOptions<S extends z.ZodType>(
  backend: string,
  schema: S,
  options: unknown,
): z.output<S> {
  const result = schema.safeParse(options ?? {});
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const path = issue.path.map(String).join('.');
      return `${backend} kwargs${path === '' ? '' : `.${path}`}: ${issue.message}`;
    }),
  );
}
