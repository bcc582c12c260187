/**
 * @module cli/commands/fake-azure-key-vault
 * `airlock fake azure-key-vault`: a test double of Azure Key Vault (HTTPS with a CA generated at
 * start, the bearer challenge, in memory) on 127.0.0.1, for pointing `npx airlock` at it from a
 * shell with `AIRLOCK_TEST_CREDENTIALS=1` and `NODE_EXTRA_CA_CERTS` set to the CA file it
 * writes. The fake is loaded only when this runs.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { AirlockError } from '../../errors.ts';
import { safeJsonParse } from '../../util/json.ts';
import type { CliContext } from '../context.ts';
import { parsePort, serveUntilSignal } from './fake.ts';

const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;

function usage(message: string): AirlockError {
  return new AirlockError('AIRLOCK_ERR_CLI_USAGE', message);
}

/**
 * Reads and checks a seed file `{"secrets": {"<name>": "<value>", …}}`; errors name the file and
 * the secret, never a value.
 *
 * @example
 * ```ts
 * const secrets = await readAzureSeedFile('seed.json'); // { 'airflow-variables-x': '1' }
 * ```
 */
export async function readAzureSeedFile(path: string): Promise<Record<string, string>> {
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
  const doc = parsed.value as { secrets?: unknown } | null;
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw usage(`--seed: \`${path}\` must hold an object {"secrets": {"<name>": "<value>", …}}`);
  }
  const unknownKeys = Object.keys(doc).filter((k) => k !== 'secrets');
  if (unknownKeys.length > 0) {
    throw usage(`--seed: \`${path}\` has unknown keys: ${unknownKeys.join(', ')}`);
  }
  const secrets = doc.secrets;
  if (secrets === null || typeof secrets !== 'object' || Array.isArray(secrets)) {
    throw usage(`--seed: \`${path}\` needs a "secrets" object of secret name → value`);
  }
  const seen = new Set<string>();
  for (const [name, value] of Object.entries(secrets)) {
    if (!SECRET_NAME.test(name)) {
      throw usage(
        `--seed: \`${path}\`: \`${name}\` is not a valid Key Vault secret name (1-127 of letters, digits and -)`,
      );
    }
    // Key Vault names are case-insensitive: two spellings would silently become two versions.
    if (seen.has(name.toLowerCase())) {
      throw usage(`--seed: \`${path}\`: \`${name}\` repeats a name (names ignore case)`);
    }
    seen.add(name.toLowerCase());
    if (typeof value !== 'string') {
      throw usage(`--seed: \`${path}\`: the value of \`${name}\` must be a string`);
    }
  }
  return secrets as Record<string, string>;
}

interface FakeOptions {
  port: number;
  seed?: string;
  caFile?: string;
}

/**
 * Registers `airlock fake azure-key-vault`.
 *
 * @example
 * ```ts
 * registerAzureKeyVaultFake(program.command('fake'), context);
 * ```
 */
export function registerAzureKeyVaultFake(fake: Command, context: CliContext): void {
  fake
    .command('azure-key-vault')
    .description(
      'run a TEST DOUBLE of Azure Key Vault (HTTPS with a throw-away CA, in memory) on 127.0.0.1',
    )
    .option('-p, --port <port>', 'port on 127.0.0.1 (0: any free port)', parsePort, 0)
    .option('--seed <file>', 'JSON file {"secrets": {"<name>": "<value>", …}} to start with')
    .option(
      '--ca-file <path>',
      'where to write the CA certificate (default: a temporary file, removed on exit)',
    )
    .action(async (options: FakeOptions) => {
      const seed = options.seed === undefined ? undefined : await readAzureSeedFile(options.seed);
      const { startAzureKeyVaultFake } = await import(
        '../../testing/fakes/azure-key-vault-fake.ts'
      );
      const running = await startAzureKeyVaultFake({
        port: options.port,
        ...(seed ? { seed } : {}),
      });
      const tempDir =
        options.caFile === undefined
          ? await mkdtemp(join(tmpdir(), 'airlock-azure-key-vault-fake-'))
          : undefined;
      const caFile =
        tempDir === undefined ? resolve(options.caFile as string) : join(tempDir, 'ca.pem');
      try {
        try {
          await writeFile(caFile, running.caCertificate, { mode: 0o644 });
        } catch (err) {
          throw usage(
            `--ca-file: cannot write \`${caFile}\` (${(err as NodeJS.ErrnoException).code ?? 'EIO'})`,
          );
        }
        const kwargs = JSON.stringify({
          vault_url: 'https://example.vault.azure.net/',
          endpoint_url: running.url,
        });
        await serveUntilSignal(context, running, [
          `ca certificate: ${caFile}`,
          `vault ${running.url} (${Object.keys(seed ?? {}).length} secrets seeded)`,
          'this is a test double: any bearer token is accepted, nothing is persisted',
          `service principals sign in here too (any client id and secret): AZURE_AUTHORITY_HOST=${running.authorityHost}, tenant ${running.tenantId}`,
          `try: NODE_EXTRA_CA_CERTS=${caFile} AIRLOCK_TEST_CREDENTIALS=1 AIRFLOW__SECRETS__BACKEND=airflow.providers.microsoft.azure.secrets.key_vault.AzureKeyVaultBackend AIRFLOW__SECRETS__BACKEND_KWARGS='${kwargs}' npx airlock variables get <key>`,
        ]);
      } finally {
        await running.close();
        if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
      }
    });
}
