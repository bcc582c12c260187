/**
 * @module cli/commands/doctor
 * `airlock doctor [--output plain|json] [--probe-variable KEY] [--probe-connection ID]`: checks,
 * in order, the effective configuration (and where each setting came from), each configured
 * store (reachable, TLS trusted, authenticated, a probe read under its path, a listing, Vault's
 * KV version and token), the metastore (schema version, every row decrypts, the key file's
 * mode), the shared cache (bounded), the DAGs folder's import errors, and the probes asked for.
 * Each check is ok / warning / failure with the exact fix; no value is ever printed. Exit 0 only
 * when nothing failed.
 */
import { statSync } from 'node:fs';
import { connect } from 'node:net';
import { type Command, Option } from 'commander';
import type { SecretKind, SecretsBackend } from '../../backends/backend.ts';
import { isAirlockError } from '../../errors.ts';
import { keyFilePath } from '../../metastore/keys.ts';
import type { Metastore } from '../../metastore/metastore.ts';
import { type CliContext, closing, printJson } from '../context.ts';

/** One check's outcome. */
export interface DoctorCheck {
  readonly check: string;
  readonly status: 'ok' | 'warning' | 'failure';
  readonly detail: string;
  /** What to do, for a warning or a failure. */
  readonly fix?: string;
}

/** The name a store is probed with: never a real key, so its value is never read. */
const PROBE = 'airlock_doctor_probe';
/** The settings that shape the chain (names only: never a value, never AIRFLOW_VAR_/CONN_). */
const SHAPING =
  /^(AIRFLOW__|AIRLOCK__|AIRLOCK_HOME$|AIRLOCK_TEST_CREDENTIALS$|NODE_EXTRA_CA_CERTS$|VAULT_(ADDR|TOKEN|CACERT|CAPATH|NAMESPACE)$|AWS_(REGION|DEFAULT_REGION|PROFILE|ACCESS_KEY_ID|ENDPOINT_URL)$|GOOGLE_(APPLICATION_CREDENTIALS|CLOUD_PROJECT)$|AZURE_(AUTHORITY_HOST|TENANT_ID|CLIENT_ID)$)/;

/** A shared cache that does not answer PING within this is reported as hung. */
const CACHE_TIMEOUT_MS = 2_000;

function messageOf(err: unknown): { code: string; message: string } {
  if (isAirlockError(err)) return { code: err.code, message: err.message };
  return { code: 'AIRLOCK_ERR_INTERNAL', message: err instanceof Error ? err.name : String(err) };
}

/** A failed check from its error (code and message, never a value) and the fix for it. */
function failure(
  check: string,
  err: unknown,
  fix: (code: string, message: string) => string,
): DoctorCheck {
  const { code, message } = messageOf(err);
  return { check, status: 'failure', detail: `${code}: ${message}`, fix: fix(code, message) };
}

/** The fix for a store's failure, from its error code and message. */
function storeFix(code: string, message: string, location: string | undefined): string {
  if (/TLS|certificate|CERT/i.test(message)) {
    return 'trust the CA that signed the store certificate: set NODE_EXTRA_CA_CERTS (or the backend kwarg verify) to its PEM file';
  }
  if (/kv_engine_version/.test(message)) return message.replace(/^.*?: set/, 'set');
  if (code === 'AIRLOCK_ERR_BACKEND_AUTH') {
    return !/invalid|expired|credentials|log in|token/i.test(
      message.replace(/the token's policy/g, ''),
    )
      ? `grant the identity read on ${location ?? 'the configured path'} (see the backend's page: required permissions)`
      : 'check the credentials in the backend kwargs (token, role, keys) and that they are current';
  }
  if (code === 'AIRLOCK_ERR_BACKEND_TIMEOUT' || code === 'AIRLOCK_ERR_BACKEND_UNAVAILABLE') {
    return 'check the store URL / endpoint_url in the backend kwargs, that the store is up, and the network (proxy, firewall, DNS)';
  }
  return 'see docs/errors.md for this code';
}

async function checkStore(backend: SecretsBackend): Promise<DoctorCheck[]> {
  const out: DoctorCheck[] = [];
  const check = `store ${backend.name}`;
  for (const kind of ['variable', 'connection'] as SecretKind[]) {
    const location = backend.locate?.(kind, PROBE);
    if (location === undefined) {
      out.push({ check, status: 'ok', detail: `${kind}s: disabled (prefix or path is null)` });
      continue;
    }
    try {
      const signal = AbortSignal.timeout(15_000);
      const found =
        kind === 'variable'
          ? await backend.getVariable(PROBE, signal)
          : await backend.getConnectionValue(PROBE, signal);
      const note = found === undefined ? backend.missNote?.(kind, PROBE) : undefined;
      if (note !== undefined) {
        out.push({ check, status: 'failure', detail: note, fix: storeFix('', note, location) });
        continue;
      }
      out.push({
        check,
        status: 'ok',
        detail: `${kind}s: reachable, TLS trusted, authenticated, read allowed (probe ${location})`,
      });
    } catch (err) {
      out.push(failure(check, err, (code, message) => storeFix(code, message, location)));
      // The store's own facts still come (a clock far off is a reason a read fails), the list not.
      return [...out, ...(await storeFacts(backend, check))];
    }
  }
  if (backend.listKeys) {
    try {
      const keys = await backend.listKeys('variable', AbortSignal.timeout(15_000));
      out.push({ check, status: 'ok', detail: `list allowed (${keys.length} variables)` });
    } catch (err) {
      const { code, message } = messageOf(err);
      out.push({
        check,
        status: 'warning',
        detail: `cannot list variables (${code}: ${message})`,
        fix: "grant list on the variables path if you use `airlock migrate --from` or `run --all-from` (the docs' policy grants it)",
      });
    }
  }
  out.push(...(await storeFacts(backend, check)));
  return out;
}

/** The backend's `diagnose` facts; one that cannot be had is left out (the probe said why). */
async function storeFacts(backend: SecretsBackend, check: string): Promise<DoctorCheck[]> {
  try {
    return ((await backend.diagnose?.()) ?? []).map((fact) => ({ check, ...fact }));
  } catch {
    return [];
  }
}

async function checkMetastore(context: CliContext): Promise<DoctorCheck[]> {
  const check = 'metastore';
  let store: Metastore | undefined;
  try {
    store = (await context.metastore('read')) as Metastore | undefined;
  } catch (err) {
    return [
      failure(
        check,
        err,
        () => 'check AIRLOCK__DATABASE__URL and the Fernet key settings; run `airlock db check`',
      ),
    ];
  }
  if (!store)
    return [{ check, status: 'ok', detail: 'none configured yet (created on first write)' }];
  const out: DoctorCheck[] = [];
  const status = await store.schemaStatus();
  if (status.unknown.length > 0 || status.pending.length > 0) {
    out.push({
      check,
      status: 'failure',
      detail: `schema version ${status.version ?? 'none'}, this airlock writes ${status.latest}`,
      fix:
        status.unknown.length > 0
          ? 'upgrade airlock: a newer one migrated this database'
          : 'run `airlock db migrate`',
    });
  } else {
    out.push({
      check,
      status: 'ok',
      detail: `schema version ${status.version ?? 'none'} (current)`,
    });
  }
  let rows = 0;
  try {
    for await (const row of store.variables()) if (row.key !== '') rows++;
    for await (const row of store.connections()) if (row.connId !== '') rows++;
    out.push({
      check,
      status: 'ok',
      detail: `every row decrypts with the configured keys (${rows} rows)`,
    });
  } catch (err) {
    out.push(
      failure(
        check,
        err,
        () =>
          'configure the Fernet key the row was written with (AIRLOCK__CORE__FERNET_KEY takes several, comma-separated), then `airlock rotate-fernet-key`',
      ),
    );
  }
  const config = context.config();
  if (config.core.fernetKey === null) {
    const path = keyFilePath(config.home);
    try {
      const mode = statSync(path).mode & 0o777;
      out.push(
        mode & 0o077
          ? {
              check,
              status: 'warning',
              detail: `the Fernet key file ${path} has mode ${mode.toString(8)}`,
              fix: `chmod 600 ${path}`,
            }
          : { check, status: 'ok', detail: `the Fernet key file ${path} has mode 600` },
      );
    } catch {
      // No key file: nothing is encrypted with one yet.
    }
  }
  return out;
}

/** PING the shared cache's Redis, bounded: `+PONG` (or an auth error, which also answers). */
function pingRedis(url: string): Promise<string> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.hostname, port: Number(target.port || 6379) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${CACHE_TIMEOUT_MS / 1000} s`));
    }, CACHE_TIMEOUT_MS);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(err.code ?? err.name));
    });
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(data.toString('utf8').split('\r\n')[0] ?? '');
    });
  });
}

async function checkSharedCache(context: CliContext): Promise<DoctorCheck[]> {
  const check = 'shared cache';
  const url = context.config().secrets.cache.sharedUrl;
  if (url === null) return [{ check, status: 'ok', detail: 'not configured' }];
  const where = new URL(url).host;
  try {
    const answer = await pingRedis(url);
    return [
      {
        check,
        status: 'ok',
        detail: `${where} answers (${answer.startsWith('+') ? answer.slice(1) : 'needs auth'})`,
      },
    ];
  } catch (err) {
    return [
      {
        check,
        status: 'failure',
        detail: `${where}: ${err instanceof Error ? err.message : String(err)}`,
        fix: 'check AIRLOCK__SECRETS__SHARED_CACHE_URL and that Redis is up and not blocked; lookups bypass a cache that fails',
      },
    ];
  }
}

async function checkDags(context: CliContext): Promise<DoctorCheck[]> {
  const check = 'dags';
  const p = {
    ...(await import('../../pipelines/loader.ts')),
    ...(await import('../../pipelines/settings.ts')),
  };
  const settings = p.loadPipelineSettings(context.io.env, context.config().home);
  if (p.listDagFiles(settings.dagsFolder).length === 0) {
    return [{ check, status: 'ok', detail: `no DAG files in ${settings.dagsFolder}` }];
  }
  const bag = await p.discoverDagsInChild(settings.dagsFolder, {
    env: context.io.env,
    masker: context.masker,
  });
  if (bag.errors.length === 0) {
    return [
      { check, status: 'ok', detail: `${bag.dags.length} DAGs load from ${settings.dagsFolder}` },
    ];
  }
  return bag.errors.map((error) => ({
    check,
    status: 'failure' as const,
    detail: `${error.file}: does not import`,
    fix: 'see `airlock dags list-import-errors` for the error, and fix the file',
  }));
}

async function probe(context: CliContext, kind: SecretKind, id: string): Promise<DoctorCheck> {
  const check = `probe ${kind} ${id}`;
  const report = await context.resolver().which(kind, id, { all: false, forceFetch: true });
  const trace = report.trace
    .map((t) => `${t.backend} ${t.outcome}${t.location ? ` at ${t.location}` : ''}`)
    .join(', ');
  return report.source === null
    ? {
        check,
        status: 'failure',
        detail: `no link serves it (${trace})`,
        fix: `write it with \`airlock secrets put ${kind} ${id} … --backend NAME\``,
      }
    : { check, status: 'ok', detail: `served by ${report.source} (${trace})` };
}

function render(checks: readonly DoctorCheck[]): string {
  const tag = { ok: '[ok]     ', warning: '[warning]', failure: '[FAILURE]' } as const;
  return checks
    .map(
      (c) => `${tag[c.status]} ${c.check}: ${c.detail}${c.fix ? `\n          fix: ${c.fix}` : ''}`,
    )
    .join('\n');
}

/** Registers `airlock doctor`. */
export function registerDoctorCommand(program: Command, context: CliContext): void {
  program
    .command('doctor')
    .description(
      'check the configuration, each store, the metastore, the shared cache and the DAGs; never prints a value',
    )
    .addOption(
      new Option('-o, --output <format>', 'plain or json')
        .choices(['plain', 'json'])
        .default('plain'),
    )
    .option(
      '--probe-variable <key>',
      'confirm a Variable is served, through the whole chain, with provenance',
    )
    .option('--probe-connection <id>', 'confirm a Connection is served, likewise')
    .action(
      (options: { output: 'plain' | 'json'; probeVariable?: string; probeConnection?: string }) =>
        closing(context, async () => {
          const checks: DoctorCheck[] = [];
          const config = context.config();
          const origins = [...context.origins()]
            .filter(([name]) => SHAPING.test(name))
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([name, origin]) => `${name} (${origin})`);
          checks.push({
            check: 'configuration',
            status: 'ok',
            detail: `chain: ${[...config.secrets.backends.map((b) => b.type), 'env', 'metastore'].join(', ')}; settings: ${origins.length > 0 ? origins.join(', ') : 'defaults only'}`,
          });
          for (const backend of context.resolver().backends) {
            if (backend.name !== 'env' && backend.name !== 'metastore')
              checks.push(...(await checkStore(backend)));
          }
          checks.push(...(await checkMetastore(context)));
          checks.push(...(await checkSharedCache(context)));
          checks.push(...(await checkDags(context)));
          if (options.probeVariable)
            checks.push(await probe(context, 'variable', options.probeVariable));
          if (options.probeConnection)
            checks.push(await probe(context, 'connection', options.probeConnection));
          const failed = checks.some((c) => c.status === 'failure');
          if (options.output === 'json') printJson(context.io, { ok: !failed, checks });
          else context.io.stdout(`${render(checks)}\n`);
          if (failed) context.exitCode = 1;
        }),
    );
}
