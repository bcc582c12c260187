/**
 * @module cli/commands/fake-gcp-secret-manager
 * `airlock fake gcp-secret-manager`: a test double of Google Cloud Secret Manager (the real gRPC
 * service and the REST API on one port, no TLS, in memory) on 127.0.0.1, for pointing `npx airlock` at it from a shell with
 * `AIRLOCK_TEST_CREDENTIALS=1`. The fake and its gRPC stack are loaded only when this runs.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { AirlockError } from '../../errors.ts';
import { safeJsonParse } from '../../util/json.ts';
import type { CliContext } from '../context.ts';
import { type FakeRegistration, parsePort, serveUntilSignal } from './fake.ts';

const SECRET_ID = /^[a-zA-Z0-9_-]{1,255}$/;
const PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$|^[0-9]+$/;

/** What a seed file holds: `{"secrets": {"<secret id>": "<value>", …}, "project"?: "<id>"}`. */
export interface GcpSeedFile {
  secrets: Record<string, string>;
  project?: string;
}

function usage(message: string): AirlockError {
  return new AirlockError('AIRLOCK_ERR_CLI_USAGE', message);
}

/**
 * Reads and checks a seed file; errors name the file and the secret id, never a value.
 *
 * @example
 * ```ts
 * const seed = await readGcpSeedFile('seed.json'); // { secrets: { 'airflow-variables-x': '1' } }
 * ```
 */
export async function readGcpSeedFile(path: string): Promise<GcpSeedFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw usage(
      `--seed: cannot read \`${path}\` (${(err as NodeJS.ErrnoException).code ?? 'EIO'})`,
    );
  }
  const parsed = safeJsonParse(text);
  if (!parsed.ok) throw usage(`--seed: \`${path}\` ${parsed.message}`);
  const doc = parsed.value as { secrets?: unknown; project?: unknown } | null;
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw usage(`--seed: \`${path}\` must hold an object {"secrets": {"<name>": "<value>", …}}`);
  }
  const unknownKeys = Object.keys(doc).filter((k) => k !== 'secrets' && k !== 'project');
  if (unknownKeys.length > 0) {
    throw usage(`--seed: \`${path}\` has unknown keys: ${unknownKeys.join(', ')}`);
  }
  const secrets = doc.secrets;
  if (secrets === null || typeof secrets !== 'object' || Array.isArray(secrets)) {
    throw usage(`--seed: \`${path}\` needs a "secrets" object of secret id → value`);
  }
  for (const [name, value] of Object.entries(secrets)) {
    if (!SECRET_ID.test(name)) {
      throw usage(
        `--seed: \`${path}\`: \`${name}\` is not a valid secret id (1-255 of letters, digits, _ and -)`,
      );
    }
    if (typeof value !== 'string') {
      throw usage(`--seed: \`${path}\`: the value of \`${name}\` must be a string`);
    }
  }
  if (doc.project !== undefined && (typeof doc.project !== 'string' || doc.project === '')) {
    throw usage(`--seed: \`${path}\`: "project" must be a non-empty string`);
  }
  return {
    secrets: secrets as Record<string, string>,
    ...(typeof doc.project === 'string' ? { project: doc.project } : {}),
  };
}

interface FakeOptions {
  port: number;
  seed?: string;
  project?: string;
}

/** Registers `airlock fake gcp-secret-manager`. */
export const registerGcpSecretManagerFake: FakeRegistration = (
  fake: Command,
  context: CliContext,
) => {
  fake
    .command('gcp-secret-manager')
    .description(
      'run a TEST DOUBLE of Google Cloud Secret Manager (gRPC and REST without TLS, in memory) on 127.0.0.1',
    )
    .option('-p, --port <port>', 'port on 127.0.0.1 (0: any free port)', parsePort, 0)
    .option('--seed <file>', 'JSON file {"secrets": {"<secret id>": "<value>", …}} to start with')
    .option(
      '--project <id>',
      'the project seeded secrets belong to (default: the seed file\'s "project", else airlock-fake)',
    )
    .action(async (options: FakeOptions) => {
      if (options.project !== undefined && !PROJECT_ID.test(options.project)) {
        throw usage('--project must be a Google project id (6-30 of a-z, 0-9 and -) or number');
      }
      const seed = options.seed === undefined ? undefined : await readGcpSeedFile(options.seed);
      const { startGcpSecretManagerFake, DEFAULT_FAKE_PROJECT } = await import(
        '../../testing/fakes/gcp-secret-manager-fake.ts'
      );
      const projectId = options.project ?? seed?.project ?? DEFAULT_FAKE_PROJECT;
      const running = await startGcpSecretManagerFake({
        port: options.port,
        projectId,
        ...(seed ? { seed: seed.secrets } : {}),
      });
      const seeded = Object.keys(seed?.secrets ?? {}).length;
      await serveUntilSignal(context, running, [
        `project ${projectId} (${seeded} ${seeded === 1 ? 'secret' : 'secrets'} seeded)`,
        'this is a test double: no TLS, any bearer token accepted, nothing persisted',
        `gcloud: gcloud config set api_endpoint_overrides/secretmanager ${running.url}/ (with CLOUDSDK_AUTH_ACCESS_TOKEN=any CLOUDSDK_CORE_PROJECT=${projectId})`,
        `try: AIRLOCK_TEST_CREDENTIALS=1 AIRFLOW__SECRETS__BACKEND=airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend AIRFLOW__SECRETS__BACKEND_KWARGS='{"project_id": "${projectId}", "endpoint_url": "${running.url}"}' npx airlock variables get <key>`,
      ]);
    });
};
