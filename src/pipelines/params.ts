/**
 * @module pipelines/params
 * DAG params, as Airflow's `Param`: each one a JSON-schema-like spec (`type`, `default`, `enum`,
 * `minimum`/`maximum`, `minLength`/`maxLength`, `pattern`, `description`). A run's params are its
 * trigger `conf` over the defaults, checked against the specs when the run is triggered (the CLI,
 * the API, the UI) and again in the task process; a task reads them, typed from the specs, as
 * `params`. The specs are plain data, so the server and the CLI check a conf without loading the
 * DAG file.
 */
import { AirlockError } from '../errors.ts';

/** One param's spec (a subset of JSON Schema, as Airflow's `Param(default, type=…, …)`). */
export type ParamSpec =
  | {
      readonly type: 'string';
      readonly default?: string;
      readonly enum?: readonly string[];
      readonly minLength?: number;
      readonly maxLength?: number;
      /** A regular expression the whole value must match. */
      readonly pattern?: string;
      readonly description?: string;
    }
  | {
      readonly type: 'number' | 'integer';
      readonly default?: number;
      readonly enum?: readonly number[];
      readonly minimum?: number;
      readonly maximum?: number;
      readonly description?: string;
    }
  | { readonly type: 'boolean'; readonly default?: boolean; readonly description?: string }
  | {
      readonly type: 'object';
      readonly default?: Readonly<Record<string, unknown>>;
      readonly description?: string;
    }
  | {
      readonly type: 'array';
      readonly default?: readonly unknown[];
      readonly description?: string;
    };

/** A DAG's params: name → spec. */
export type ParamSpecs = Readonly<Record<string, ParamSpec>>;

type ValueOf<S extends ParamSpec> = S extends { readonly enum: readonly (infer E)[] }
  ? E
  : S['type'] extends 'string'
    ? string
    : S['type'] extends 'number' | 'integer'
      ? number
      : S['type'] extends 'boolean'
        ? boolean
        : S['type'] extends 'object'
          ? Readonly<Record<string, unknown>>
          : readonly unknown[];

/**
 * The params a task receives for `specs`: every param is present (from the conf or its default;
 * a param without a default must be in the conf).
 */
export type ParamsOf<S extends ParamSpecs> = { readonly [K in keyof S]: ValueOf<S[K]> };

function fail(message: string, name: string): AirlockError {
  return new AirlockError('AIRLOCK_ERR_DAG_PARAMS_INVALID', message, { details: { param: name } });
}

function typeOk(spec: ParamSpec, value: unknown): boolean {
  switch (spec.type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    default:
      return false;
  }
}

/**
 * Checks one value against its spec; the message names the param and the rule, never the value.
 *
 * @throws AirlockError `AIRLOCK_ERR_DAG_PARAMS_INVALID`.
 */
function check(name: string, spec: ParamSpec, value: unknown): void {
  if (!typeOk(spec, value)) throw fail(`param \`${name}\` must be of type ${spec.type}`, name);
  if ('enum' in spec && spec.enum && !(spec.enum as readonly unknown[]).includes(value)) {
    throw fail(
      `param \`${name}\` must be one of ${spec.enum.map((e) => JSON.stringify(e)).join(', ')}`,
      name,
    );
  }
  if (spec.type === 'number' || spec.type === 'integer') {
    const n = value as number;
    if (spec.minimum !== undefined && n < spec.minimum) {
      throw fail(`param \`${name}\` must be >= ${spec.minimum}`, name);
    }
    if (spec.maximum !== undefined && n > spec.maximum) {
      throw fail(`param \`${name}\` must be <= ${spec.maximum}`, name);
    }
  }
  if (spec.type === 'string') {
    const s = value as string;
    if (spec.minLength !== undefined && s.length < spec.minLength) {
      throw fail(`param \`${name}\` must be at least ${spec.minLength} characters`, name);
    }
    if (spec.maxLength !== undefined && s.length > spec.maxLength) {
      throw fail(`param \`${name}\` must be at most ${spec.maxLength} characters`, name);
    }
    if (spec.pattern !== undefined && !new RegExp(`^(?:${spec.pattern})$`, 'u').test(s)) {
      throw fail(`param \`${name}\` must match the pattern ${spec.pattern}`, name);
    }
  }
}

const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array']);

/**
 * Checks a DAG's specs when the DAG is built: known types, a valid pattern, and defaults that
 * satisfy their own spec.
 *
 * @throws AirlockError `AIRLOCK_ERR_DAG_INVALID`.
 */
export function checkParamSpecs(dagId: string, specs: ParamSpecs): void {
  for (const [name, spec] of Object.entries(specs)) {
    const where = `DAG \`${dagId}\`: param \`${name}\``;
    if (spec === null || typeof spec !== 'object' || !TYPES.has(spec.type)) {
      throw new AirlockError(
        'AIRLOCK_ERR_DAG_INVALID',
        `${where} needs a type: string, number, integer, boolean, object or array`,
      );
    }
    if (spec.type === 'string' && spec.pattern !== undefined) {
      try {
        new RegExp(spec.pattern, 'u');
      } catch {
        throw new AirlockError(
          'AIRLOCK_ERR_DAG_INVALID',
          `${where}: the pattern is not a regular expression`,
        );
      }
    }
    if (spec.default !== undefined) {
      try {
        check(name, spec, spec.default);
      } catch (err) {
        throw new AirlockError(
          'AIRLOCK_ERR_DAG_INVALID',
          `${where}: its default does not satisfy it (${(err as Error).message})`,
        );
      }
    }
  }
}

/**
 * A run's params: `conf` over the defaults, each checked against its spec.
 *
 * @throws AirlockError `AIRLOCK_ERR_DAG_PARAMS_INVALID` naming the first param that fails.
 * @example
 * ```ts
 * resolveParams({ n: { type: 'integer', default: 1, minimum: 0 } }, { n: 5 }); // { n: 5 }
 * ```
 */
export function resolveParams(
  specs: ParamSpecs,
  conf: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const value = Object.hasOwn(conf, name) ? conf[name] : spec.default;
    if (value === undefined) {
      throw fail(`param \`${name}\` is required (it has no default)`, name);
    }
    check(name, spec, value);
    out[name] = value;
  }
  return out;
}
