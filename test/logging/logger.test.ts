import { describe, expect, it } from 'vitest';
import { createLogger, parseLogLevel } from '../../src/logging/logger.ts';
import { SecretsMasker } from '../../src/masking/masker.ts';
import { runAirlock } from '../helpers/cli.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  return { lines, destination: { write: (line: string) => lines.push(JSON.parse(line)) } };
}

describe('createLogger', () => {
  it('masks registered secrets in messages and fields, and sensitive keys wholesale', () => {
    const masker = new SecretsMasker();
    masker.addSecret('logger-secret-1');
    const { lines, destination } = capture();
    const log = createLogger({ masker, destination, level: 'info' });
    log.warn(
      {
        backend: 'vault',
        note: 'saw logger-secret-1',
        password: 'anything',
        nested: { token: 't-1' },
      },
      'value logger-secret-1 leaked?',
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'warn',
      name: 'airlock',
      backend: 'vault',
      note: 'saw ***',
      password: '***',
      nested: { token: '***' },
      msg: 'value *** leaked?',
    });
    expect(JSON.stringify(lines)).not.toContain('logger-secret-1');
  });

  it('honours the level', () => {
    const { lines, destination } = capture();
    const log = createLogger({ masker: new SecretsMasker(), destination, level: 'warn' });
    log.info({}, 'hidden');
    log.debug({}, 'hidden');
    log.error({}, 'shown');
    expect(lines.map((l) => l.msg)).toEqual(['shown']);
  });

  it("reads Airflow's level names", () => {
    expect(parseLogLevel('WARNING')).toBe('warn');
    expect(parseLogLevel('CRITICAL')).toBe('fatal');
    expect(parseLogLevel('Info')).toBe('info');
    expect(parseLogLevel('loud')).toBeUndefined();
    expect(parseLogLevel(undefined)).toBeUndefined();
  });
});

describe('CLI logging', () => {
  it('logs a backend failure passed over with fallthrough, masked, as one JSON line on stderr', async () => {
    const r = await runAirlock(['variables', 'get', 'hello'], {
      env: {
        AIRFLOW_VAR_HELLO: 'world',
        AIRLOCK__SECRETS__BACKEND: 'local-file',
        AIRLOCK__SECRETS__BACKEND_KWARGS: '{"variables_file_path": "/nonexistent/vars.json"}',
        AIRLOCK__SECRETS__FALLTHROUGH_ON_ERROR: 'true',
      },
    });
    expect(r.stdout).toBe('world\n');
    const line = JSON.parse(r.stderr.trim());
    expect(line).toMatchObject({
      level: 'warn',
      backend: 'local-file',
      code: 'AIRLOCK_ERR_BACKEND_FILE_MISSING',
    });
    expect(line.msg).toContain('trying the next link');
  });

  it('prints each lookup at debug level, without values', async () => {
    const r = await runAirlock(['variables', 'get', 'api_token'], {
      env: { AIRFLOW_VAR_API_TOKEN: 'debug-secret-value', AIRLOCK__LOGGING__LEVEL: 'debug' },
    });
    expect(r.stdout).toBe('debug-secret-value\n');
    expect(r.stderr).toContain('"msg":"lookup"');
    expect(r.stderr).not.toContain('debug-secret-value');
  });
});
