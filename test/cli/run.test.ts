import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, cleanEnv, NODE, runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const SECRET = 'run-secret-7f2a9c41';
const PASSWORD = 'conn-pass-3b8e0d';
const ENV = {
  AIRFLOW_VAR_API_TOKEN: SECRET,
  AIRFLOW_VAR_REGION: 'eu-west-1',
  AIRFLOW_VAR_APP_NAME: 'orders',
  AIRFLOW_VAR_APP_SIZE: 'large',
  AIRFLOW_CONN_WAREHOUSE: `postgres://analyst:${PASSWORD}@db.example.com:5432/analytics`,
};

/** `node -e <script>` as the command airlock runs. */
const nodeScript = (script: string) => ['--', NODE, '-e', script];

describe('airlock run', () => {
  it('injects variables and connections and exits with the command exit code', async () => {
    const r = await runAirlock(
      [
        'run',
        '--var',
        'region',
        '--var',
        'api_token=TOKEN',
        '--conn',
        'warehouse',
        '--conn-fields',
        ...nodeScript(`
          const e = process.env;
          console.log(JSON.stringify({ region: e.AIRFLOW_VAR_REGION, tokenLength: e.TOKEN.length,
            host: e.WAREHOUSE_HOST, port: e.WAREHOUSE_PORT, type: e.WAREHOUSE_CONN_TYPE,
            uriHasHost: e.AIRFLOW_CONN_WAREHOUSE.includes('db.example.com') }));
          process.exit(3);`),
      ],
      { env: ENV },
    );
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toEqual({
      region: 'eu-west-1',
      tokenLength: SECRET.length,
      host: 'db.example.com',
      port: '5432',
      type: 'postgres',
      uriHasHost: true,
    });
  });

  it('leaves values Airflow would not mask visible (non-sensitive names from the environment)', async () => {
    const r = await runAirlock(
      ['run', '--var', 'region', ...nodeScript('console.log(process.env.AIRFLOW_VAR_REGION)')],
      {
        env: ENV,
      },
    );
    expect(r.stdout).toBe('eu-west-1\n');
  });

  it('masks sensitive values and passwords on stdout and stderr, also URL-encoded and base64', async () => {
    const r = await runAirlock(
      [
        'run',
        '--var',
        'api_token',
        '--conn',
        'warehouse',
        '--conn-fields',
        ...nodeScript(`
          const e = process.env;
          console.log('token ' + e.AIRFLOW_VAR_API_TOKEN);
          console.log('b64 ' + Buffer.from(e.AIRFLOW_VAR_API_TOKEN).toString('base64'));
          console.error('pw ' + e.WAREHOUSE_PASSWORD + ' enc ' + encodeURIComponent(e.WAREHOUSE_PASSWORD + '/'));`),
      ],
      { env: ENV },
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('token ***');
    expect(r.stdout).not.toContain(SECRET);
    expect(r.stdout).not.toContain(Buffer.from(SECRET).toString('base64').slice(2, 12));
    expect(r.stderr).toContain('pw ***');
    expect(r.stderr).not.toContain(PASSWORD);
  });

  it("masks JSON forms: Python's \\uXXXX escapes (lower and upper case hex) and \\/", async () => {
    const secret = 'tök/én-ünï-8d1e';
    const r = await runAirlock(
      [
        'run',
        '--var',
        'uni_token',
        ...nodeScript(`
          const v = process.env.AIRFLOW_VAR_UNI_TOKEN;
          const json = JSON.stringify({ v });
          const ascii = (upper) => json.replace(/[\\u0080-\\uffff]/g, (c) => {
            const hex = c.charCodeAt(0).toString(16).padStart(4, '0');
            return '\\\\u' + (upper ? hex.toUpperCase() : hex);
          });
          console.log(ascii(false));
          console.log(ascii(true));
          console.log(json.replace(/\\//g, '\\\\/'));
          console.log(ascii(false).replace(/\\//g, '\\\\/'));`),
      ],
      { env: { AIRFLOW_VAR_UNI_TOKEN: secret } },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(Array(4).fill('{"v":"***"}'));
  });

  it('masks a secret split across two writes', async () => {
    const half = Math.floor(SECRET.length / 2);
    const r = await runAirlock(
      [
        'run',
        '--var',
        'api_token',
        ...nodeScript(`
          const s = process.env.AIRFLOW_VAR_API_TOKEN;
          process.stdout.write('start ' + s.slice(0, ${half}));
          setTimeout(() => process.stdout.write(s.slice(${half}) + ' end\\n'), 100);`),
      ],
      { env: ENV },
    );
    expect(r.stdout).toBe('start *** end\n');
  });

  it('passes large and binary output through unchanged apart from the secrets', async () => {
    const binary = randomBytes(256 * 1024).toString('base64');
    const script = `
      const bin = Buffer.from(${JSON.stringify(binary)}, 'base64');
      const line = 'x'.repeat(1000) + process.env.AIRFLOW_VAR_API_TOKEN + '\\n';
      let out = '';
      for (let i = 0; i < 2000; i++) out += line;
      process.stdout.write(bin);
      process.stdout.write(out);`;
    const file = join(tempDir(), 'big-output.cjs');
    writeFileSync(file, script);
    const child = spawn(NODE, [BIN, 'run', '--var', 'api_token', '--', NODE, file], {
      env: cleanEnv(ENV),
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    const out = Buffer.concat(chunks);
    const bin = Buffer.from(binary, 'base64');
    expect(out.subarray(0, bin.length).equals(bin)).toBe(true);
    const text = out.subarray(bin.length).toString();
    expect(text.split('\n').filter(Boolean)).toHaveLength(2000);
    expect(text).not.toContain(SECRET);
    expect(text.split('***').length - 1).toBe(2000);
  });

  it('forwards signals to the command and exits with its code', async () => {
    const child = spawn(
      NODE,
      [
        BIN,
        'run',
        ...nodeScript(`
          process.on('SIGTERM', () => { console.log('child got SIGTERM'); process.exit(42); });
          console.log('ready');
          setInterval(() => {}, 1000);`),
      ],
      { env: cleanEnv(ENV) },
    );
    let stdout = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString();
        if (stdout.includes('ready')) resolve();
      });
    });
    child.kill('SIGTERM');
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(stdout).toContain('child got SIGTERM');
    expect(code).toBe(42);
  });

  it('exits 128 + n when the command dies of signal n', async () => {
    const r = await runAirlock(['run', ...nodeScript(`process.kill(process.pid, 'SIGKILL')`)]);
    expect(r.code).toBe(137);
  });

  it('exports every variable under a prefix with --all-from, and lists names with --env', async () => {
    const r = await runAirlock(['run', '--all-from', 'app_', '--env', '--', 'true'], { env: ENV });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'AIRFLOW_VAR_APP_NAME\tvariable `app_name`\nAIRFLOW_VAR_APP_SIZE\tvariable `app_size`\n',
    );
  });

  it('does not mask with --no-mask', async () => {
    const r = await runAirlock(
      [
        'run',
        '--no-mask',
        '--var',
        'api_token',
        ...nodeScript('console.log(process.env.AIRFLOW_VAR_API_TOKEN)'),
      ],
      { env: ENV },
    );
    expect(r.stdout).toBe(`${SECRET}\n`);
  });

  it('fails before starting the command when a value is missing', async () => {
    const r = await runAirlock(['run', '--var', 'nope', '--', 'echo', 'should-not-run'], {
      env: ENV,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^airlock: error AIRLOCK_ERR_VAR_NOT_FOUND: /);
  });

  it('exits 127 for a command that does not exist and 2 without a command', async () => {
    const missing = await runAirlock(['run', '--', 'airlock-no-such-command-xyz']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/AIRLOCK_ERR_CLI_COMMAND_FAILED: .*command not found/);
    const none = await runAirlock(['run']);
    expect(none.code).toBe(2);
  });

  it('refuses an invalid environment variable name', async () => {
    const r = await runAirlock(['run', '--var', 'region=NOT-VALID', '--', 'true'], { env: ENV });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('not a valid environment variable name');
  });
});

describe('airlock run and mask_all_resolved', () => {
  it('masks every value an external backend serves, unless AIRLOCK__CORE__MASK_ALL_RESOLVED=false', async () => {
    const dir = tempDir();
    const vars = join(dir, 'vars.json');
    writeFileSync(vars, JSON.stringify({ region: 'external-region-value' }));
    const env = {
      AIRLOCK__SECRETS__BACKEND: 'local-file',
      AIRLOCK__SECRETS__BACKEND_KWARGS: JSON.stringify({ variables_file_path: vars }),
    };
    const args = [
      'run',
      '--var',
      'region',
      ...nodeScript('console.log(process.env.AIRFLOW_VAR_REGION)'),
    ];
    const masked = await runAirlock(args, { env });
    expect(masked.stdout).toBe('***\n');
    const plain = await runAirlock(args, {
      env: { ...env, AIRLOCK__CORE__MASK_ALL_RESOLVED: 'false' },
    });
    expect(plain.stdout).toBe('external-region-value\n');
  });
});
