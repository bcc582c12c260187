/**
 * @module backends/aws-secrets-manager
 * AWS Secrets Manager, with Airflow's `SecretsManagerBackend` kwargs.
 *
 * A Variable is the `SecretString` of `<variables_prefix><sep><key>`; a Connection is the
 * `SecretString` of `<connections_prefix><sep><conn_id>`, either a URI or a JSON object whose
 * keys Airflow re-keys with its alias lists (`user` → `login`, `database` → `schema`, …).
 * The AWS SDK is loaded on the first read.
 */
import type { BatchGetSecretValueCommandOutput } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { AirlockError } from '../errors.ts';
import {
  JsonDecodeError,
  jsonDumps,
  jsonLoads,
  type PyDict,
  type PyJson,
  pyStrip,
  unquote,
} from '../model/connection-uri.ts';
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
export const BACKEND_NAME = 'aws-secrets-manager' as const;

/** The Connection fields of a JSON secret and the secret keys Airflow accepts for each, in order. */
export const CONNECTION_FIELD_ALIASES = Object.freeze({
  login: ['login', 'user', 'username', 'user_name'],
  password: ['password', 'pass', 'key'],
  host: ['host', 'remote_host', 'server'],
  port: ['port'],
  schema: ['database', 'schema'],
  conn_type: ['conn_type', 'conn_id', 'connection_type', 'engine'],
  extra: ['extra'],
} as const satisfies Record<string, readonly string[]>);

type ConnectionField = keyof typeof CONNECTION_FIELD_ALIASES;

/** Field names `extra_conn_words` may extend (`user` is Airflow's old name for `login`). */
const EXTRA_WORD_FIELDS = new Set<string>([...Object.keys(CONNECTION_FIELD_ALIASES), 'user']);

/** `BatchGetSecretValue` takes at most 20 ids per call. */
const BATCH_SIZE = 20;
/** Single reads in flight at once when a batch read is not possible. */
const SINGLE_READ_CONCURRENCY = 5;

/**
 * Errors Airflow treats as "not here": a missing secret, a name Secrets Manager rejects (no
 * secret can have it) and a secret scheduled for deletion. Airflow also swallows
 * `DecryptionFailure` and `InternalServiceError`; airlock does not, because either can hide a
 * secret that exists (see docs/backends/aws-secrets-manager.md).
 */
const NOT_FOUND = new Set([
  'ResourceNotFoundException',
  'InvalidParameterException',
  'InvalidRequestException',
]);

/** Whole-batch errors after which airlock reads the ids one by one instead. */
const BATCH_FALLBACK = new Set([
  'AccessDeniedException',
  'UnknownOperationException',
  'InvalidAction',
  'NotImplemented',
]);

/** Airflow's `SecretsManagerBackend` kwargs. */
export const awsSecretsManagerOptionsSchema = z
  .strictObject({
    /** @default 'airflow/connections' */
    connections_prefix: nullablePrefix('airflow/connections'),
    /** @default 'airflow/variables' */
    variables_prefix: nullablePrefix('airflow/variables'),
    /** @default 'airflow/config' */
    config_prefix: nullablePrefix('airflow/config'),
    /** @default '/' */
    sep: z.string().default('/'),
    /** More secret keys per Connection field, e.g. `{"login": ["usr"]}` (`user` means `login`). */
    extra_conn_words: z.record(z.string(), z.array(z.string())).nullable().optional(),
    /** Deprecated in Airflow and ignored: the encoding is detected. */
    full_url_mode: z.boolean().optional(),
    /** Deprecated in Airflow: `unquote` the string fields of JSON connection secrets. @default false */
    are_secret_values_urlencoded: z.boolean().optional(),
    ...awsConnectionOptionsShape,
  })
  .superRefine((value, ctx) => {
    checkAwsConnectionOptions(value, ctx);
    for (const field of Object.keys(value.extra_conn_words ?? {})) {
      if (!EXTRA_WORD_FIELDS.has(field)) {
        ctx.addIssue({
          code: 'custom',
          path: ['extra_conn_words', field],
          message: `is not a Connection field (use one of ${[...EXTRA_WORD_FIELDS].join(', ')})`,
        });
      }
    }
  });

/** Options of {@link createAwsSecretsManagerBackend}. */
export type AwsSecretsManagerBackendOptions = z.input<typeof awsSecretsManagerOptionsSchema>;

/** The alias lists with `extra_conn_words` appended (Airflow's `_standardize_secret_keys`). */
function aliasLists(
  extra: Record<string, string[]> | null | undefined,
): Record<ConnectionField, string[]> {
  const lists = Object.fromEntries(
    Object.entries(CONNECTION_FIELD_ALIASES).map(([field, words]) => [field, [...words]]),
  ) as Record<ConnectionField, string[]>;
  for (const [field, words] of Object.entries(extra ?? {})) {
    const target = (field === 'user' ? 'login' : field) as ConnectionField;
    lists[target].push(...words);
  }
  return lists;
}

/**
 * Airflow's re-keying of a JSON connection secret: each field takes the value of the first key
 * of the secret (in the secret's order) in its alias list; every field is present (`null` when
 * absent) and every other key, `description` included, is dropped.
 *
 * @example
 * ```ts
 * standardiseConnectionSecret('{"user": "u", "engine": "postgres"}', aliasLists(null), false);
 * // '{"login": "u", "password": null, "host": null, "port": null, "schema": null, "conn_type": "postgres", "extra": null}'
 * ```
 */
export function standardiseConnectionSecret(
  secret: string,
  aliases: Record<ConnectionField, string[]>,
  urlencoded: boolean,
): string {
  const parsed = jsonLoads(secret);
  if (!(parsed instanceof Map)) throw new JsonDecodeError('Expecting an object', 0);
  const out: PyDict = new Map();
  for (const [field, words] of Object.entries(aliases) as [ConnectionField, string[]][]) {
    let value: PyJson = null;
    for (const [key, v] of parsed) {
      if (words.includes(key)) {
        value = v;
        break;
      }
    }
    // Airflow's `are_secret_values_urlencoded`: string fields are unquoted, a dict extra is not.
    if (urlencoded && typeof value === 'string') value = unquote(value);
    out.set(field, value);
  }
  return jsonDumps(out);
}

type SecretsManagerSdk = typeof import('@aws-sdk/client-secrets-manager');

/**
 * Creates the AWS Secrets Manager backend.
 *
 * @example
 * ```ts
 * const sm = createAwsSecretsManagerBackend({ region_name: 'eu-west-1' });
 * await sm.getVariable('db_url'); // SecretString of `airflow/variables/db_url`, or undefined
 * ```
 */
export function createAwsSecretsManagerBackend(
  options: AwsSecretsManagerBackendOptions = {},
  deps: AwsBackendDeps = {},
): SecretsBackend {
  const opts = parseOptions(BACKEND_NAME, awsSecretsManagerOptionsSchema, options);
  const env = deps.env ?? process.env;
  const prefixes: Record<SecretKind, string | null> = {
    variable: normalisePrefix(opts.variables_prefix, opts.sep),
    connection: normalisePrefix(opts.connections_prefix, opts.sep),
  };
  const patterns: Record<SecretKind, string | null | undefined> = {
    variable: opts.variables_lookup_pattern,
    connection: opts.connections_lookup_pattern,
  };
  const aliases = aliasLists(opts.extra_conn_words);
  const urlencoded = opts.are_secret_values_urlencoded === true;
  let sdk: SecretsManagerSdk | undefined;
  const client = lazyClient(async () => {
    sdk = await loadSdk(
      BACKEND_NAME,
      '@aws-sdk/client-secrets-manager',
      () => import('@aws-sdk/client-secrets-manager'),
    );
    return new sdk.SecretsManagerClient(
      await buildAwsClientConfig(BACKEND_NAME, 'secretsmanager', opts, env, deps.logger),
    );
  });
  // Set once a batch read is refused (no secretsmanager:BatchGetSecretValue, or an emulator
  // without it): later batches go straight to single reads.
  let batchUnsupported = false;

  function secretId(kind: SecretKind, id: string): string | undefined {
    const prefix = prefixes[kind];
    if (prefix === null || !matchesLookupPattern(patterns[kind], id)) return undefined;
    return prefix ? `${prefix}${opts.sep}${id}` : id;
  }

  function fail(err: unknown, kind: SecretKind, id: string, location: string): AirlockError {
    return toAirlockError(err, {
      backend: BACKEND_NAME,
      kind,
      id,
      location,
      locationNoun: 'secret',
    });
  }

  /** The value to hand to the resolver: verbatim, or a re-keyed JSON connection. */
  function finish(
    kind: SecretKind,
    id: string,
    location: string,
    secret: { SecretString?: string | undefined; SecretBinary?: Uint8Array | undefined },
  ): string {
    if (typeof secret.SecretString !== 'string') {
      const shape = secret.SecretBinary === undefined ? 'no value' : 'a binary value';
      throw new AirlockError(
        'AIRLOCK_ERR_BACKEND_VALUE_INVALID',
        `${BACKEND_NAME}: secret \`${location}\` for ${kind} \`${id}\` has ${shape}; store the ${kind} as SecretString`,
        { details: { backend: BACKEND_NAME, kind, id, secret: location } },
      );
    }
    const value = secret.SecretString;
    if (kind === 'variable' || !pyStrip(value).startsWith('{')) return value;
    try {
      return standardiseConnectionSecret(value, aliases, urlencoded);
    } catch (err) {
      const where = err instanceof JsonDecodeError ? ` at character ${err.position}` : '';
      throw new AirlockError(
        'AIRLOCK_ERR_CONN_JSON_INVALID',
        `${BACKEND_NAME}: secret \`${location}\` for connection \`${id}\` starts with "{" but is not a JSON object${where}`,
        { details: { backend: BACKEND_NAME, conn_id: id, secret: location } },
      );
    }
  }

  async function readOne(
    kind: SecretKind,
    id: string,
    signal: AbortSignal | undefined,
  ): Promise<string | undefined> {
    const location = secretId(kind, id);
    if (location === undefined) return undefined;
    let out: { SecretString?: string | undefined; SecretBinary?: Uint8Array | undefined };
    try {
      const c = await client.get();
      const command = new (sdk as SecretsManagerSdk).GetSecretValueCommand({ SecretId: location });
      out = await withThrottleBackoff(
        () => c.send(command, signal ? { abortSignal: signal } : {}),
        deps,
        signal,
      );
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (NOT_FOUND.has(awsErrorName(err))) return undefined;
      throw fail(err, kind, id, location);
    }
    return finish(kind, id, location, out);
  }

  async function readBatch(
    kind: SecretKind,
    locations: Map<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const single = async (ids: string[]) => {
      const values = await mapLimit(ids, SINGLE_READ_CONCURRENCY, (id) =>
        readOne(kind, id, signal),
      );
      ids.forEach((id, i) => {
        const value = values[i];
        if (value !== undefined) found.set(id, value);
      });
    };
    const byLocation = new Map([...locations].map(([id, location]) => [location, id]));
    for (const group of chunks([...locations.keys()], BATCH_SIZE)) {
      if (batchUnsupported) {
        await single(group);
        continue;
      }
      const first = group[0] as string;
      let out: BatchGetSecretValueCommandOutput;
      try {
        const c = await client.get();
        const command = new (sdk as SecretsManagerSdk).BatchGetSecretValueCommand({
          SecretIdList: group.map((id) => locations.get(id) as string),
        });
        out = await withThrottleBackoff(
          () => c.send(command, signal ? { abortSignal: signal } : {}),
          deps,
          signal,
        );
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (BATCH_FALLBACK.has(awsErrorName(err))) {
          batchUnsupported = true;
          await single(group);
          continue;
        }
        throw toAirlockError(err, {
          backend: BACKEND_NAME,
          kind,
          id: first,
          location: locations.get(first) as string,
          locationNoun: 'secret',
          what: `${group.length} ${kind}s in one BatchGetSecretValue call (the first: \`${first}\`)`,
        });
      }
      for (const error of out.Errors ?? []) {
        const id = byLocation.get(error.SecretId ?? '');
        if (id === undefined || NOT_FOUND.has(error.ErrorCode ?? '')) continue;
        throw fail(
          { name: error.ErrorCode ?? 'UnknownError' },
          kind,
          id,
          locations.get(id) as string,
        );
      }
      for (const secret of out.SecretValues ?? []) {
        const id = byLocation.get(secret.Name ?? '') ?? byLocation.get(secret.ARN ?? '');
        if (id === undefined) continue;
        found.set(id, finish(kind, id, locations.get(id) as string, secret));
      }
    }
    return found;
  }

  function locationsOf(kind: SecretKind, ids: readonly string[]): Map<string, string> {
    const locations = new Map<string, string>();
    for (const id of ids) {
      const location = secretId(kind, id);
      if (location !== undefined) locations.set(id, location);
    }
    return locations;
  }

  async function write(
    kind: SecretKind,
    id: string,
    value: string | undefined,
    signal?: AbortSignal,
  ) {
    const name = writableName(
      BACKEND_NAME,
      kind,
      id,
      secretId(kind, id),
      (n) => SECRET_NAME.test(n),
      'letters, digits and / _ + = . @ -, at most 512 characters',
    );
    const c = await client.get();
    await writeSecret(c, sdk as SecretsManagerSdk, { kind, id, name, value }, deps, signal);
  }

  return {
    name: BACKEND_NAME,
    async listKeys(kind, signal) {
      const prefix = prefixes[kind];
      if (prefix === null) return [];
      const head = prefix ? `${prefix}${opts.sep}` : '';
      const c = await client.get();
      const keys = await listSecretNames(c, sdk as SecretsManagerSdk, head, deps, signal).catch(
        (err: unknown) => {
          if (signal?.aborted) throw signal.reason;
          throw toAirlockError(err, {
            backend: BACKEND_NAME,
            kind,
            id: '*',
            location: `${head}*`,
            locationNoun: 'secret',
            what: `the ${kind}s under ${head}`,
          });
        },
      );
      return keys.filter((key) => matchesLookupPattern(patterns[kind], key));
    },
    putSecret: (kind, id, value, signal) => write(kind, id, value, signal),
    deleteSecret: (kind, id, signal) => write(kind, id, undefined, signal),
    getVariable: (key, signal) => readOne('variable', key, signal),
    getConnectionValue: (connId, signal) => readOne('connection', connId, signal),
    getVariables: (keys, signal) => readBatch('variable', locationsOf('variable', keys), signal),
    getConnectionValues: (connIds, signal) =>
      readBatch('connection', locationsOf('connection', connIds), signal),
    locate: (kind, id) => secretId(kind, id),
    describe() {
      const described = describeAwsOptions(BACKEND_NAME, opts);
      // Alias words name fields ("password"), they are not secrets.
      if (opts.extra_conn_words) described.extra_conn_words = opts.extra_conn_words;
      return described;
    },
    diagnose: (signal) => diagnoseAws(BACKEND_NAME, opts, env, signal),
    dispose: () => client.dispose(),
  };
}

/** The names of the secrets starting with `head`, without it (`ListSecrets`, filtered by name). */
async function listSecretNames(
  c: InstanceType<SecretsManagerSdk['SecretsManagerClient']>,
  sm: SecretsManagerSdk,
  head: string,
  deps: AwsBackendDeps,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const names: string[] = [];
  let next: string | undefined;
  do {
    const command = new sm.ListSecretsCommand({
      MaxResults: 100,
      ...(head === '' ? {} : { Filters: [{ Key: 'name', Values: [head] }] }),
      ...(next === undefined ? {} : { NextToken: next }),
    });
    const out = await withThrottleBackoff(
      () => c.send(command, signal ? { abortSignal: signal } : {}),
      deps,
      signal,
    );
    for (const secret of out.SecretList ?? []) names.push(secret.Name ?? '');
    next = out.NextToken;
  } while (next);
  return keysUnder(names, head);
}

/** What Secrets Manager accepts as a secret name. */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

/**
 * `airlock secrets put` / `delete` on Secrets Manager: `PutSecretValue` (a new current
 * version), `CreateSecret` when it does not exist, `RestoreSecret` first when it is scheduled
 * for deletion; a delete schedules it with the default recovery window (30 days), as
 * `aws secretsmanager delete-secret` does.
 */
async function writeSecret(
  c: InstanceType<SecretsManagerSdk['SecretsManagerClient']>,
  sm: SecretsManagerSdk,
  op: { kind: SecretKind; id: string; name: string; value: string | undefined },
  deps: AwsBackendDeps,
  signal: AbortSignal | undefined,
): Promise<void> {
  const send = (command: unknown) =>
    withThrottleBackoff(
      () => c.send(command as never, signal ? { abortSignal: signal } : {}),
      deps,
      signal,
    );
  const { name, value } = op;
  try {
    if (value === undefined) {
      await send(new sm.DeleteSecretCommand({ SecretId: name })).catch((err: unknown) => {
        if (!NOT_FOUND.has(awsErrorName(err))) throw err;
      });
      return;
    }
    // Asked first: Secrets Manager refuses a put on a secret scheduled for deletion (and some
    // emulators accept it silently, leaving the secret deleted).
    let state: { DeletedDate?: Date | undefined } | undefined;
    try {
      state = (await send(new sm.DescribeSecretCommand({ SecretId: name }))) as typeof state;
    } catch (err) {
      if (!NOT_FOUND.has(awsErrorName(err))) throw err;
    }
    if (state === undefined) {
      await send(new sm.CreateSecretCommand({ Name: name, SecretString: value }));
      return;
    }
    // Scheduled for deletion: a put brings it back, as the name cannot be reused until then.
    if (state.DeletedDate !== undefined)
      await send(new sm.RestoreSecretCommand({ SecretId: name }));
    await send(new sm.PutSecretValueCommand({ SecretId: name, SecretString: value }));
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw toAirlockError(err, {
      backend: BACKEND_NAME,
      kind: op.kind,
      id: op.id,
      location: name,
      locationNoun: 'secret',
      verb: value === undefined ? 'deleting' : 'writing',
    });
  }
}

/** This backend in the registry (`names.ts` loads it on demand, `registry.ts` eagerly). */
export const backendEntry: BackendEntry = {
  optionsSchema: awsSecretsManagerOptionsSchema as BackendEntry['optionsSchema'],
  create: createAwsSecretsManagerBackend as BackendEntry['create'],
};
