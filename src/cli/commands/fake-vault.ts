/**
 * @module cli/commands/fake-vault
 * `airlock fake vault`: a HashiCorp Vault test double on 127.0.0.1, like `vault server -dev`
 * (a known root token, KV v2 at `secret/`), for trying the Airflow docs' Vault walkthrough
 * without Vault. The fake module is loaded only when this command runs.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AirlockError } from '../../errors.ts';
import { safeJsonParse } from '../../util/json.ts';
import { type FakeRegistration, parsePort, serveUntilSignal } from './_fake-serve.ts';

interface FakeVaultOptions {
  port: number;
  rootToken: string;
  seed?: string;
  tls?: boolean;
}

const SEED_HELP = `
Seed file (--seed): JSON, every key optional.
  {
    "kv":       {"secret/variables/hello": {"value": "world"},
                 "secret/connections/smtp_default": {"conn_uri": "smtps://user:pass@relay.example.com:465"}},
    "mounts":   {"kv1": 1, "team": 2},
    "policies": {"airflow": "path \\"secret/data/variables/*\\" { capabilities = [\\"read\\", \\"list\\"] }"},
    "namespaces": {"team-a": {"mounts": {"secret": 2}, "kv": {"secret/variables/x": {"value": "y"}}}}
  }
"kv" paths are logical paths as \`vault kv put\` takes them (<mount>/<path>, no "data/").
KV v2 is mounted at secret/ by default; "mounts" adds KV mounts (path → version 1 or 2).

Examples:
  airlock fake vault --port 8200 --root-token root
  export VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=root
  curl -H "X-Vault-Token: root" -X POST -d '{"data": {"value": "world"}}' \\
    $VAULT_ADDR/v1/secret/data/variables/hello

This is a test double: state lives in memory, nothing is secured, and it binds 127.0.0.1 only.
See docs/backends/vault.md for what it implements.`;

function readSeed(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', `--seed: cannot read \`${path}\` (${code})`);
  }
  const parsed = safeJsonParse(text);
  if (!parsed.ok) {
    throw new AirlockError(
      'AIRLOCK_ERR_CLI_USAGE',
      `--seed: \`${path}\` is not valid JSON (line ${parsed.position.line}, column ${parsed.position.column})`,
    );
  }
  return parsed.value;
}

/** Registers `airlock fake vault`. */
export const registerVaultFake: FakeRegistration = (fake, context) => {
  fake
    .command('vault')
    .description(
      'run a HashiCorp Vault test double (KV v1/v2, policies, tokens, AppRole, userpass) on 127.0.0.1',
    )
    .option('-p, --port <port>', 'port to listen on (0 picks a free one)', parsePort, 8200)
    .option('--root-token <token>', 'the root token, as `vault server -dev-root-token-id`', 'root')
    .option('--seed <file>', 'JSON file with secrets, mounts, policies and namespaces to load')
    .option('--tls', 'serve HTTPS with a fresh self-signed certificate and print its CA file')
    .addHelpText('after', SEED_HELP)
    .action(async (options: FakeVaultOptions) => {
      if (options.rootToken.trim() === '') {
        throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', '--root-token: must not be empty');
      }
      const seedValue = options.seed === undefined ? undefined : readSeed(options.seed);
      const { generateFakeTlsCertificate, parseVaultFakeSeed, startVaultFake } = await import(
        '../../testing/fakes/vault-fake.ts'
      );
      let seed: ReturnType<typeof parseVaultFakeSeed> | undefined;
      try {
        seed = seedValue === undefined ? undefined : parseVaultFakeSeed(seedValue);
      } catch (err) {
        const message = err instanceof Error ? err.message : 'invalid seed';
        throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', `--seed: ${message}`);
      }
      const tls = options.tls ? await generateFakeTlsCertificate() : undefined;
      let running: Awaited<ReturnType<typeof startVaultFake>>;
      try {
        running = await startVaultFake({
          port: options.port,
          rootToken: options.rootToken,
          ...(seed === undefined ? {} : { seed }),
          ...(tls === undefined ? {} : { tls }),
        });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE') {
          throw new AirlockError(
            'AIRLOCK_ERR_CLI_USAGE',
            `--port: 127.0.0.1:${options.port} is already in use`,
          );
        }
        // A seed that does not fit (an unknown mount, a policy that does not parse).
        const message = err instanceof Error ? err.message : 'could not start';
        throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', `--seed: ${message}`);
      }
      const lines = [
        `root token: ${running.rootToken}`,
        'KV v2 mounted at secret/; this is a test double (in memory, not secured), not Vault',
      ];
      if (tls) {
        const caFile = join(mkdtempSync(join(tmpdir(), 'airlock-fake-vault-')), 'ca.pem');
        writeFileSync(caFile, tls.cert, { mode: 0o600 });
        lines.push(`ca certificate: ${caFile}`);
      }
      await serveUntilSignal(context, running, lines);
    });
};
