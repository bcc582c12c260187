/**
 * Validates responses against Airflow's own published OpenAPI documents (`test/fixtures/
 * airflow-openapi/`: the 2.10 stable API for `/api/v1`, the 3.2 public API for `/api/v2`), with
 * Ajv (JSON Schema 2020-12) over the documents' schemas: `nullable: true` (OpenAPI 3.0, and
 * FastAPI's output) becomes a type that also allows `null`, and a `writeOnly` property (the
 * Connection `password` of v1) must not appear in a response at all.
 *
 * @example
 * ```ts
 * expectAirflowResponse('v2', 'get', '/api/v2/variables/{variable_key}', res, body);
 * ```
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { expect } from 'vitest';
import { parse } from 'yaml';

type Json = Record<string, unknown>;
type Version = 'v1' | 'v2';

const FILES: Record<Version, string> = {
  v1: 'v1-airflow-2.10.yaml',
  v2: 'v2-airflow-3.2.yaml',
};

/** The keyword a `writeOnly: true` becomes (JSON Schema's own `writeOnly` only annotates). */
const WRITE_ONLY = 'x-airflow-write-only';

/** OpenAPI's schema dialect → JSON Schema: `nullable`, `$ref` into this document's `$id`. */
function convert(node: unknown, id: string): unknown {
  if (Array.isArray(node)) return node.map((n) => convert(n, id));
  if (node === null || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node as Json)) {
    if (key === 'nullable' || key === 'example' || key === 'discriminator') continue;
    if (key === '$ref' && typeof value === 'string') out.$ref = `${id}${value}`;
    else if (key === 'writeOnly') out[WRITE_ONLY] = value === true;
    else out[key] = convert(value, id);
  }
  if ((node as Json).nullable === true) {
    if (typeof out.type === 'string' && out.$ref === undefined && !out.allOf) {
      out.type = [out.type, 'null'];
      if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
      return out;
    }
    return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

interface Spec {
  readonly doc: Json;
  readonly ajv: Ajv2020;
  readonly id: string;
  readonly compiled: Map<string, ValidateFunction>;
}

const specs = new Map<Version, Spec>();

function spec(version: Version): Spec {
  const found = specs.get(version);
  if (found) return found;
  const doc = parse(
    readFileSync(
      join(import.meta.dirname, '..', 'fixtures', 'airflow-openapi', FILES[version]),
      'utf8',
    ),
  ) as Json;
  const id = `https://airflow.invalid/${version}`;
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  // A writeOnly property is never sent back: its presence in a response fails validation.
  ajv.addKeyword({ keyword: WRITE_ONLY, schemaType: 'boolean', validate: (on: boolean) => !on });
  ajv.addSchema({ $id: id, components: convert(doc.components, id) } as Json);
  const made: Spec = { doc, ajv, id, compiled: new Map() };
  specs.set(version, made);
  return made;
}

/** Every operation of a document, as `METHOD path` strings. */
export function airflowOperations(version: Version): string[] {
  const paths = spec(version).doc.paths as Record<string, Json>;
  return Object.entries(paths).flatMap(([path, ops]) =>
    Object.keys(ops)
      .filter((m) => ['get', 'post', 'patch', 'put', 'delete'].includes(m))
      .map((m) => `${m.toUpperCase()} ${path}`),
  );
}

/** The JSON Schema of a response, or `undefined` when the document gives none for the status. */
function responseValidator(
  version: Version,
  method: string,
  path: string,
  status: number,
): ValidateFunction | undefined | null {
  const s = spec(version);
  const key = `${method} ${path} ${status}`;
  if (s.compiled.has(key)) return s.compiled.get(key);
  const prefix = version === 'v1' ? '/api/v1' : '';
  const ops = (s.doc.paths as Record<string, Json>)[path.slice(prefix.length)];
  const op = ops?.[method.toLowerCase()] as Json | undefined;
  if (!op) return null;
  const responses = op.responses as Record<string, Json>;
  let response = responses[String(status)] ?? responses.default;
  if (response && typeof response.$ref === 'string') {
    const name = response.$ref.split('/').pop() as string;
    response = ((s.doc.components as Json).responses as Record<string, Json>)[name];
  }
  if (!response) return null;
  const content = response.content as Record<string, Json> | undefined;
  const schema =
    content?.['application/json']?.schema ?? content?.['application/problem+json']?.schema;
  if (!schema) return undefined;
  const validate = s.ajv.compile(convert(schema, s.id) as Json);
  s.compiled.set(key, validate);
  return validate;
}

/**
 * Checks a response against the Airflow document: the operation exists there, the status is one
 * it documents, and a JSON body matches the schema for it.
 */
export function expectAirflowResponse(
  version: Version,
  method: string,
  path: string,
  status: number,
  body: unknown,
): void {
  const validate = responseValidator(version, method, path, status);
  expect(
    validate,
    `${method} ${path}: Airflow's ${version} documents no ${status} answer`,
  ).not.toBe(null);
  if (!validate) return;
  const ok = validate(body);
  expect(
    ok
      ? []
      : validate.errors?.map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`),
    `${method} ${path} ${status} matches Airflow's ${version} schema`,
  ).toEqual([]);
}

/**
 * A `fetch`-like client for `app.request` that checks every answer against Airflow's document for
 * the operation `route` names (`GET /api/v2/variables/{variable_key}`), and returns the body.
 */
export async function checkedRequest(
  request: (path: string, init?: RequestInit) => Response | Promise<Response>,
  route: string,
  path: string,
  init: RequestInit = {},
  // biome-ignore lint/suspicious/noExplicitAny: callers check the body field by field.
): Promise<{ status: number; body: any; headers: Headers }> {
  const [method = 'GET', template = path] = route.split(' ');
  const res = await request(path, { ...init, method });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  const body = type.includes('json') && text !== '' ? JSON.parse(text) : text;
  const version: Version = template.startsWith('/api/v1') ? 'v1' : 'v2';
  expectAirflowResponse(version, method, template, res.status, body);
  return { status: res.status, body, headers: res.headers };
}

// --- comparing a served document with Airflow's ------------------------------------------------

/** Resolves a local `$ref` (`#/components/schemas/X`) against `doc`. */
function deref(node: Json, doc: Json): Json {
  let out = node;
  for (let i = 0; i < 20 && typeof out.$ref === 'string'; i++) {
    const parts = (out.$ref as string).replace(/^.*#\//, '').split('/');
    out = parts.reduce<Json>((n, p) => (n[p] ?? {}) as Json, doc);
  }
  return out;
}

/** `allOf` merged into one object schema (properties and `required`). */
function merged(node: Json, doc: Json): Json {
  const s = deref(node, doc);
  if (!Array.isArray(s.allOf)) return s;
  const parts = (s.allOf as Json[]).map((p) => merged(p, doc));
  const rest = { ...s };
  delete rest.allOf;
  return {
    ...rest,
    type: 'object',
    properties: Object.assign({}, ...parts.map((p) => p.properties ?? {}), s.properties ?? {}),
    required: [...new Set(parts.flatMap((p) => (p.required as string[] | undefined) ?? []))],
  };
}

function typesOf(s: Json): string[] | undefined {
  if (s.type === undefined) return s.properties ? ['object'] : undefined;
  return Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
}

/**
 * Whether every value `ours` (a schema of a served document) allows is one `theirs` (Airflow's,
 * converted from OpenAPI 3.0 by {@link convert}) allows too, as far as JSON Schema's structure
 * tells: types, enums, Airflow's required fields, each shared property recursively, an extra
 * property only where Airflow's object allows more. Returns the differences.
 */
export function incompatibilities(
  oursNode: Json,
  oursDoc: Json,
  theirsNode: Json,
  theirsDoc: Json,
  at = '',
): string[] {
  const ours = merged(oursNode, oursDoc);
  const theirs = merged(theirsNode, theirsDoc);
  for (const key of ['anyOf', 'oneOf'] as const) {
    if (Array.isArray(ours[key])) {
      return (ours[key] as Json[]).flatMap((b) =>
        incompatibilities(b, oursDoc, theirs, theirsDoc, at),
      );
    }
  }
  for (const key of ['anyOf', 'oneOf'] as const) {
    if (Array.isArray(theirs[key])) {
      const tries = (theirs[key] as Json[]).map((b) =>
        incompatibilities(ours, oursDoc, b, theirsDoc, at),
      );
      return tries.some((t) => t.length === 0)
        ? []
        : [`${at || '/'}: matches none of Airflow's alternatives (${tries.flat().join('; ')})`];
    }
  }
  const theirTypes = typesOf(theirs);
  const ourTypes = typesOf(ours);
  if (theirTypes) {
    if (!ourTypes) return [`${at || '/'}: any value, Airflow's is ${theirTypes.join('|')}`];
    const allowed = (t: string) =>
      theirTypes.includes(t) || (t === 'integer' && theirTypes.includes('number'));
    const extra = ourTypes.filter((t) => !allowed(t));
    if (extra.length > 0)
      return [`${at || '/'}: ${extra.join('|')} where Airflow's is ${theirTypes.join('|')}`];
  }
  const out: string[] = [];
  if (Array.isArray(theirs.enum)) {
    const ourValues = Array.isArray(ours.enum)
      ? ours.enum
      : 'const' in ours
        ? [ours.const]
        : undefined;
    const missing = ourValues?.filter((v) => !(theirs.enum as unknown[]).includes(v));
    if (!ourValues) out.push(`${at || '/'}: any value where Airflow's is an enum`);
    else if (missing?.length)
      out.push(`${at || '/'}: ${JSON.stringify(missing)} not in Airflow's enum`);
  }
  if (ourTypes?.includes('object')) {
    const ourProps = (ours.properties ?? {}) as Record<string, Json>;
    const theirProps = (theirs.properties ?? {}) as Record<string, Json>;
    const ourRequired = new Set((ours.required as string[] | undefined) ?? []);
    for (const name of (theirs.required as string[] | undefined) ?? []) {
      if (!ourRequired.has(name)) out.push(`${at}/${name}: required by Airflow, optional here`);
    }
    for (const [name, schema] of Object.entries(ourProps)) {
      if (theirProps[name]) {
        out.push(
          ...incompatibilities(schema, oursDoc, theirProps[name], theirsDoc, `${at}/${name}`),
        );
      } else if (theirs.additionalProperties === false) {
        out.push(`${at}/${name}: not a field of Airflow's schema`);
      }
    }
  }
  if (ourTypes?.includes('array') && theirs.items && ours.items) {
    out.push(
      ...incompatibilities(ours.items as Json, oursDoc, theirs.items as Json, theirsDoc, `${at}[]`),
    );
  }
  return out;
}

/** Airflow's document of `version`, its schemas as JSON Schema (for {@link incompatibilities}). */
export function airflowDocument(version: Version): Json {
  const s = spec(version);
  return { ...s.doc, components: convert(s.doc.components, '') as Json };
}

/**
 * The JSON schema of an operation's response in Airflow's document (`path` without `/api/v1`),
 * converted; `null` when Airflow documents no such operation or status.
 */
export function airflowResponseSchema(
  version: Version,
  method: string,
  path: string,
  status: string,
): Json | null {
  const doc = airflowDocument(version);
  const op = ((doc.paths as Record<string, Json>)[path]?.[method] ?? null) as Json | null;
  if (!op) return null;
  let response = (op.responses as Record<string, Json>)[status];
  if (response && typeof response.$ref === 'string') response = deref(response, doc);
  const content = response?.content as Record<string, Json> | undefined;
  const schema =
    content?.['application/json']?.schema ?? content?.['application/problem+json']?.schema;
  return schema ? (convert(schema, '') as Json) : null;
}

/**
 * A checker of answers against a document the server serves (OpenAPI 3.1, its schemas JSON
 * Schema already): the operation and status are documented, and a JSON body matches the schema.
 * With it a test proves a route answers what its declaration says, not only what Airflow's does.
 */
export function documentedResponses(doc: Json) {
  const id = 'https://airlock.invalid/served';
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  const rebase = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(rebase);
    if (node === null || typeof node !== 'object') return node;
    return Object.fromEntries(
      Object.entries(node as Json).map(([k, v]) => [
        k,
        k === '$ref' && typeof v === 'string' ? `${id}${v}` : rebase(v),
      ]),
    );
  };
  ajv.addSchema({ $id: id, components: rebase(doc.components) } as Json);
  return (method: string, path: string, status: number, type: string, body: unknown): void => {
    const op = ((doc.paths as Record<string, Json>)[path]?.[method.toLowerCase()] ?? null) as Json;
    expect(op, `${method} ${path} is documented`).not.toBe(null);
    const response = (op.responses as Record<string, Json>)[String(status)];
    expect(response, `${method} ${path} documents ${status}`).toBeDefined();
    const content = (response?.content ?? {}) as Record<string, Json>;
    const media = type.split(';')[0]?.trim() ?? '';
    if (!media.includes('json')) return;
    const schema = content[media]?.schema;
    expect(schema, `${method} ${path} ${status} documents ${media}`).toBeDefined();
    const validate = ajv.compile(rebase(schema) as Json);
    const ok = validate(body);
    expect(
      ok ? [] : validate.errors?.map((e) => `${e.instancePath} ${e.message}`),
      `${method} ${path} ${status} matches the served document`,
    ).toEqual([]);
  };
}
