import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AirlockError,
  ConfigError,
  ERROR_CODES,
  isAirlockError,
  NotFoundError,
} from '../src/errors.ts';

describe('errors', () => {
  it('documents every code in docs/errors.md, and nothing else', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\|\s*`(AIRLOCK_ERR_[A-Z_]+)`\s*\|/gm)].map((m) => m[1]);
    expect(documented).toEqual(Object.keys(ERROR_CODES));
  });

  it('names every code AIRLOCK_ERR_<AREA>_<WHAT> with a known area', () => {
    const areas = [
      'CONFIG',
      'CONN',
      'VAR',
      'BACKEND',
      'STORE',
      'CRYPTO',
      'MIGRATION',
      'HTTP',
      'DAG',
      'CLI',
    ];
    for (const code of Object.keys(ERROR_CODES)) {
      if (code === 'AIRLOCK_ERR_INTERNAL') continue;
      const area = code.split('_')[2] ?? '';
      expect(areas, code).toContain(area);
    }
  });

  it('carries code, status, details and cause, and serialises without the cause', () => {
    const cause = new Error('inner with s3cret');
    const err = new AirlockError('AIRLOCK_ERR_BACKEND_AUTH', 'vault: permission denied', {
      cause,
      details: { backend: 'vault', status: 403 },
    });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('AirlockError');
    expect(err.status).toBe(502);
    expect(err.cause).toBe(cause);
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      name: 'AirlockError',
      code: 'AIRLOCK_ERR_BACKEND_AUTH',
      message: 'vault: permission denied',
      details: { backend: 'vault', status: 403 },
    });
  });

  it('has NotFoundError and ConfigError subclasses', () => {
    const nf = new NotFoundError('AIRLOCK_ERR_VAR_NOT_FOUND', 'Variable `x` does not exist');
    expect(nf).toBeInstanceOf(AirlockError);
    expect(nf.status).toBe(404);
    const ce = new ConfigError(['A: bad', 'B: worse']);
    expect(ce.code).toBe('AIRLOCK_ERR_CONFIG_INVALID');
    expect(ce.message).toBe('invalid configuration: A: bad; B: worse');
    expect(Object.isFrozen(ce.issues)).toBe(true);
  });

  it('recognises airlock errors, also by their code', () => {
    expect(isAirlockError(new AirlockError('AIRLOCK_ERR_INTERNAL', 'x'))).toBe(true);
    const foreign = Object.assign(new Error('x'), { code: 'AIRLOCK_ERR_VAR_NOT_FOUND' });
    expect(isAirlockError(foreign)).toBe(true);
    expect(isAirlockError(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(false);
    expect(isAirlockError('AIRLOCK_ERR_INTERNAL')).toBe(false);
  });
});
