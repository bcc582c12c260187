/**
 * @module backends/aws-ssm
 * AWS Systems Manager Parameter Store, with Airflow's `SystemsManagerParameterStoreBackend` kwargs.
 *
 * A Variable is the parameter `/<variables_prefix>/<key>`, a Connection the parameter
 * `/<connections_prefix>/<conn_id>` (a URI or a JSON document), read with `WithDecryption` so
 * that `SecureString` parameters come back in clear. Batch reads use `GetParameters`, 10 names a
 * call. The AWS SDK is loaded on the first read.
 */
import type { GetParametersCommandOutput } from '@aws-sdk/client-ssm';
import { z } from 'zod';
import { AirlockError } from '../errors.ts';
import {
  type AwsBackendDeps,
  awsErrorName,
  buildAwsClientConfig,
  chunks,
  describeAwsOptions,
  diagnoseAws,
  lazyClient,
  mapLimit,
  normalisePrefix,
  toAirlockError,
  withThrottleBackoff,
} from './_aws.ts';
import { awsConnectionOptionsShape, checkAwsConnectionOptions } from './_aws-options.ts';
import { matchesLookupPattern, nullablePrefix, parseOptions } from './_options.ts';
import { loadSdk } from './_sdk.ts';
import {
  type BackendEntry,
  keysUnder,
  type SecretKind,
  type SecretsBackend,
  writableName,
} from './backend.ts';

/** The short name of this backend. */
export const BACKEND_NAME = 'aws-ssm' as const;

/** `GetParameters` takes at most 10 names per call. */
const BATCH_SIZE = 10;
/** Calls in flight at once for a batch read. */
const CONCURRENCY = 4;

/**
 * "Not here": a missing parameter (Airflow's only case) and a missing version or label of a
 * `name:version` / `name:label` selector, which is the same absence for one selector.
 */
const NOT_FOUND = new Set(['ParameterNotFound', 'ParameterVersionNotFound']);
/** What SSM accepts as a parameter name (with its leading `/`). */
const PARAMETER_NAME = /^[a-zA-Z0-9_.\-/]+$/;

/** Airflow's `SystemsManagerParameterStoreBackend` kwargs (no `sep`: always `/`). */
export const awsSsmOptionsSchema = z
  .strictObject({
    /** @default '/airflow/connections' */
    connections_prefix: nullablePrefix('/airflow/connections'),
    /** @default '/airflow/variables' */
    variables_prefix: nullablePrefix('/airflow/variables'),
    /** @default '/airflow/config' */
    config_prefix: nullablePrefix('/airflow/config'),
    ...awsConnectionOptionsShape,
  })
  .superRefine(checkAwsConnectionOptions);

/** Options of {@link createAwsSsmBackend}. */
export type AwsSsmBackendOptions = z.input<typeof awsSsmOptionsSchema>;

/**
 * Airflow's parameter name: `build_path(prefix, id)` (`prefix + '/' + id`), then a leading `/`
 * when it has none; so prefix `''` gives `/<id>`.
 *
 * @example
 * ```ts
 * parameterName('airflow/variables', 'x'); // '/airflow/variables/x'
 * ```
 */
export function parameterName(prefix: string, id: string): string {
  const path = `${prefix}/${id}`;
  return path.startsWith('/') ? path : `/${path}`;
}

type SsmSdk = typeof import('@aws-sdk/client-ssm');

/**
 * Creates the Parameter Store backend.
 *
 * @example
 * ```ts
 * const ssm = createAwsSsmBackend({ region_name: 'eu-west-1' });
 * await ssm.getVariable('db_url'); // value of `/airflow/variables/db_url`, or undefined
 * ```
 */
export function createAwsSsmBackend(
  options: AwsSsmBackendOptions = {},
  deps: AwsBackendDeps = {},
): SecretsBackend {
  const opts = parseOptions(BACKEND_NAME, awsSsmOptionsSchema, options);
  const env = deps.env ?? process.env;
  const prefixes: Record<SecretKind, string | null> = {
    variable: normalisePrefix(opts.variables_prefix, '/'),
    connection: normalisePrefix(opts.connections_prefix, '/'),
  };
  const patterns: Record<SecretKind, string | null | undefined> = {
    variable: opts.variables_lookup_pattern,
    connection: opts.connections_lookup_pattern,
  };
  let sdk: SsmSdk | undefined;
  const client = lazyClient(async () => {
    sdk = await loadSdk(BACKEND_NAME, '@aws-sdk/client-ssm', () => import('@aws-sdk/client-ssm'));
    return new sdk.SSMClient(
      await buildAwsClientConfig(BACKEND_NAME, 'ssm', opts, env, deps.logger),
    );
  });

  function nameOf(kind: SecretKind, id: string): string | undefined {
    const prefix = prefixes[kind];
    if (prefix === null || !matchesLookupPattern(patterns[kind], id)) return undefined;
    return parameterName(prefix, id);
  }

  function parameterValue(kind: SecretKind, id: string, name: string, value: unknown): string {
    if (typeof value === 'string') return value;
    throw new AirlockError(
      'AIRLOCK_ERR_BACKEND_VALUE_INVALID',
      `${BACKEND_NAME}: parameter \`${name}\` for ${kind} \`${id}\` came back without a value`,
      { details: { backend: BACKEND_NAME, kind, id, parameter: name } },
    );
  }

  async function readOne(
    kind: SecretKind,
    id: string,
    signal: AbortSignal | undefined,
  ): Promise<string | undefined> {
    const name = nameOf(kind, id);
    if (name === undefined) return undefined;
    let value: unknown;
    try {
      const c = await client.get();
      const command = new (sdk as SsmSdk).GetParameterCommand({ Name: name, WithDecryption: true });
      const out = await withThrottleBackoff(
        () => c.send(command, signal ? { abortSignal: signal } : {}),
        deps,
        signal,
      );
      value = out.Parameter?.Value;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (NOT_FOUND.has(awsErrorName(err))) return undefined;
      throw toAirlockError(err, {
        backend: BACKEND_NAME,
        kind,
        id,
        location: name,
        locationNoun: 'parameter',
      });
    }
    return parameterValue(kind, id, name, value);
  }

  async function readBatch(
    kind: SecretKind,
    ids: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const byName = new Map<string, string>();
    const selectors: string[] = [];
    for (const id of new Set(ids)) {
      const name = nameOf(kind, id);
      if (name === undefined) continue;
      // `:` cannot occur in a parameter name: it starts a version or label selector, and the
      // batch answer names the parameter without it, so those ids are read one by one.
      if (name.includes(':')) selectors.push(id);
      else byName.set(name, id);
    }
    const groups = chunks([...byName.keys()], BATCH_SIZE);
    await mapLimit(groups, CONCURRENCY, async (names) => {
      let out: GetParametersCommandOutput;
      try {
        const c = await client.get();
        const command = new (sdk as SsmSdk).GetParametersCommand({
          Names: names,
          WithDecryption: true,
        });
        out = await withThrottleBackoff(
          () => c.send(command, signal ? { abortSignal: signal } : {}),
          deps,
          signal,
        );
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        const first = names[0] as string;
        throw toAirlockError(err, {
          backend: BACKEND_NAME,
          kind,
          id: byName.get(first) as string,
          location: first,
          locationNoun: 'parameter',
          what: `${names.length} ${kind}s in one GetParameters call (the first: parameter \`${first}\`)`,
        });
      }
      // Names in `InvalidParameters` do not exist: they are simply not in the map.
      for (const parameter of out.Parameters ?? []) {
        const id = byName.get(parameter.Name ?? '');
        if (id === undefined) continue;
        found.set(id, parameterValue(kind, id, parameter.Name as string, parameter.Value));
      }
    });
    const values = await mapLimit(selectors, CONCURRENCY, (id) => readOne(kind, id, signal));
    selectors.forEach((id, i) => {
      const value = values[i];
      if (value !== undefined) found.set(id, value);
    });
    return found;
  }

  /** `PutParameter` (a SecureString, overwriting) or `DeleteParameter` at the name Airflow reads. */
  async function write(
    kind: SecretKind,
    id: string,
    value: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const name = writableName(
      BACKEND_NAME,
      kind,
      id,
      nameOf(kind, id),
      (n) => PARAMETER_NAME.test(n) && n.length <= 1011,
      'letters, digits and _ . - /, at most 1011 characters',
    );
    const c = await client.get();
    const ssm = sdk as SsmSdk;
    const command =
      value === undefined
        ? new ssm.DeleteParameterCommand({ Name: name })
        : new ssm.PutParameterCommand({
            Name: name,
            Value: value,
            Type: 'SecureString',
            Overwrite: true,
          });
    try {
      await withThrottleBackoff(
        () => c.send(command as never, signal ? { abortSignal: signal } : {}),
        deps,
        signal,
      );
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (value === undefined && NOT_FOUND.has(awsErrorName(err))) return;
      throw toAirlockError(err, {
        backend: BACKEND_NAME,
        kind,
        id,
        location: name,
        locationNoun: 'parameter',
        verb: value === undefined ? 'deleting' : 'writing',
      });
    }
  }

  return {
    name: BACKEND_NAME,
    async listKeys(kind, signal) {
      const prefix = prefixes[kind];
      if (prefix === null) return [];
      const base = parameterName(prefix, '');
      const names: string[] = [];
      const c = await client.get();
      let next: string | undefined;
      try {
        do {
          const command = new (sdk as SsmSdk).GetParametersByPathCommand({
            Path: base.length > 1 ? base.slice(0, -1) : base,
            Recursive: true,
            MaxResults: 10,
            ...(next === undefined ? {} : { NextToken: next }),
          });
          const out = await withThrottleBackoff(
            () => c.send(command, signal ? { abortSignal: signal } : {}),
            deps,
            signal,
          );
          for (const p of out.Parameters ?? []) names.push(p.Name ?? '');
          next = out.NextToken;
        } while (next);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        throw toAirlockError(err, {
          backend: BACKEND_NAME,
          kind,
          id: '*',
          location: base,
          locationNoun: 'path',
          what: `the ${kind}s under ${base}`,
        });
      }
      return keysUnder(names, base).filter((key) => matchesLookupPattern(patterns[kind], key));
    },
    putSecret: (kind, id, value, signal) => write(kind, id, value, signal),
    deleteSecret: (kind, id, signal) => write(kind, id, undefined, signal),
    getVariable: (key, signal) => readOne('variable', key, signal),
    getConnectionValue: (connId, signal) => readOne('connection', connId, signal),
    getVariables: (keys, signal) => readBatch('variable', keys, signal),
    getConnectionValues: (connIds, signal) => readBatch('connection', connIds, signal),
    locate: (kind, id) => nameOf(kind, id),
    describe: () => describeAwsOptions(BACKEND_NAME, opts),
    diagnose: (signal) => diagnoseAws(BACKEND_NAME, opts, env, signal),
    dispose: () => client.dispose(),
  };
}

/** This backend in the registry (`names.ts` loads it on demand, `registry.ts` eagerly). */
export const backendEntry: BackendEntry = {
  optionsSchema: awsSsmOptionsSchema as BackendEntry['optionsSchema'],
  create: createAwsSsmBackend as BackendEntry['create'],
};
