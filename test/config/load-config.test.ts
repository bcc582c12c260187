import { homedir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { AIRFLOW_CLASS_PATHS } from '../../src/backends/registry.ts';
import { loadConfig, loadConfigAsync } from '../../src/config/load-config.ts';
import { ConfigError } from '../../src/errors.ts';
import { Fernet } from '../../src/metastore/fernet.ts';

function issuesOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('defaults to no external backend, fail-closed, home in ~/airlock', () => {
    const config = loadConfig({});
    expect(config.secrets.backends).toEqual([]);
    expect(config.secrets.configuredBy).toBeNull();
    expect(config.secrets.fallthroughOnError).toBe(false);
    expect(config.home).toBe(`${homedir()}/airlock`);
    expect(config.core.hideSensitiveVarConnFields).toBe(true);
  });

  it('takes AIRLOCK_HOME', () => {
    expect(loadConfig({ AIRLOCK_HOME: '/srv/airlock' }).home).toBe('/srv/airlock');
  });

  it('maps every Airflow class path to its backend', () => {
    const expected = {
      'airflow.providers.hashicorp.secrets.vault.VaultBackend': 'vault',
      'airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend':
        'aws-secrets-manager',
      'airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend':
        'aws-ssm',
      'airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend':
        'gcp-secret-manager',
      'airflow.providers.microsoft.azure.secrets.key_vault.AzureKeyVaultBackend': 'azure-key-vault',
      'airflow.secrets.local_filesystem.LocalFilesystemBackend': 'local-file',
    };
    for (const [classPath, type] of Object.entries(expected)) {
      expect(AIRFLOW_CLASS_PATHS[classPath]).toBe(type);
      const config = loadConfig({ AIRFLOW__SECRETS__BACKEND: classPath });
      expect(config.secrets.backends.map((b) => b.type)).toEqual([type]);
      expect(config.secrets.configuredBy).toBe('AIRFLOW__SECRETS__BACKEND');
    }
  });

  it("takes Airflow's kwargs JSON verbatim, snake_case and nulls included, with defaults", () => {
    const config = loadConfig({
      AIRFLOW__SECRETS__BACKEND: 'airflow.providers.hashicorp.secrets.vault.VaultBackend',
      AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({
        connections_path: 'connections',
        variables_path: 'variables',
        config_path: null,
        url: 'http://127.0.0.1:8200',
        auth_type: 'approle',
        role_id: 'r',
        secret_id: 's',
      }),
    });
    const [vault] = config.secrets.backends;
    expect(vault?.type).toBe('vault');
    expect(vault?.kwargs).toMatchObject({
      config_path: null,
      auth_type: 'approle',
      mount_point: 'secret',
      kv_engine_version: 2,
    });
  });

  it('accepts short names and AIRLOCK__ names, which win over AIRFLOW__ ones', () => {
    const config = loadConfig({
      AIRLOCK__SECRETS__BACKEND: 'local-file',
      AIRLOCK__SECRETS__BACKEND_KWARGS: '{"variables_file_path": "/tmp/v.json"}',
      AIRFLOW__SECRETS__BACKEND: 'airflow.providers.hashicorp.secrets.vault.VaultBackend',
      AIRFLOW__SECRETS__BACKEND_KWARGS: '{"url": "http://vault"}',
    });
    expect(config.secrets.backends).toEqual([
      {
        type: 'local-file',
        kwargs: {
          variables_file_path: '/tmp/v.json',
          connections_file_path: null,
          configs_file_path: null,
        },
        create: expect.any(Function),
      },
    ]);
    // The configuration holds the factory of what it loaded: it builds that backend.
    expect(config.secrets.backends[0]?.create().name).toBe('local-file');
    expect(config.secrets.configuredBy).toBe('AIRLOCK__SECRETS__BACKEND');
  });

  it('configures several backends in order with AIRLOCK__SECRETS__BACKENDS', () => {
    const config = loadConfig({
      AIRLOCK__SECRETS__BACKENDS: JSON.stringify([
        { type: 'local-file', kwargs: { variables_file_path: '/a.json' } },
        { type: 'airflow.providers.hashicorp.secrets.vault.VaultBackend', kwargs: { url: 'x' } },
        { type: 'aws-ssm' },
      ]),
    });
    expect(config.secrets.backends.map((b) => b.type)).toEqual(['local-file', 'vault', 'aws-ssm']);
    expect(config.secrets.configuredBy).toBe('AIRLOCK__SECRETS__BACKENDS');
  });

  it('lists every problem at once, naming kwargs but never echoing values', () => {
    const issues = issuesOf({
      AIRLOCK__SECRETS__BACKENDS: JSON.stringify([
        { type: 'nope.NoSuchBackend' },
        { type: 'vault', kwargs: { token: 123, tokn: 's3cret-typo', kv_engine_version: 3 } },
        { type: 'local-file', kwargs: 'not-an-object' },
        { type: 'aws-ssm', kwargs: {}, extra: true },
      ]),
      AIRLOCK__SECRETS__FALLTHROUGH_ON_ERROR: 'perhaps',
    });
    expect(issues.join('\n')).toMatch(/\[0\]: unknown backend `nope.NoSuchBackend`/);
    expect(issues.some((i) => i.includes('[1] kwargs (vault).token'))).toBe(true);
    expect(issues.some((i) => i.includes('tokn'))).toBe(true);
    expect(issues.some((i) => i.includes('kv_engine_version'))).toBe(true);
    expect(issues.some((i) => i.includes('[2] kwargs: must be a JSON object'))).toBe(true);
    expect(issues.some((i) => i.includes('[3]: unknown key `extra`'))).toBe(true);
    expect(issues.some((i) => i.startsWith('AIRLOCK__SECRETS__FALLTHROUGH_ON_ERROR'))).toBe(true);
    expect(issues.join('\n')).not.toContain('s3cret');
    expect(issues.join('\n')).not.toContain('123');
  });

  it('refuses kwargs that are not JSON without quoting them', () => {
    const issues = issuesOf({
      AIRFLOW__SECRETS__BACKEND: 'airflow.providers.hashicorp.secrets.vault.VaultBackend',
      AIRFLOW__SECRETS__BACKEND_KWARGS: '{"token": s3cret-token}',
    });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^AIRFLOW__SECRETS__BACKEND_KWARGS: is not valid JSON/);
    expect(issues[0]).not.toContain('s3cret');
  });

  it('refuses an unknown class path with the list of known backends', () => {
    const [issue] = issuesOf({ AIRFLOW__SECRETS__BACKEND: 'my_company.secrets.CustomBackend' });
    expect(issue).toContain('unknown backend `my_company.secrets.CustomBackend`');
    expect(issue).toContain('vault, aws-secrets-manager');
  });

  it('refuses kwargs without a backend, and a list combined with a single backend', () => {
    expect(issuesOf({ AIRFLOW__SECRETS__BACKEND_KWARGS: '{"url": "x"}' })[0]).toContain(
      'is set but no backend is',
    );
    expect(
      issuesOf({
        AIRLOCK__SECRETS__BACKENDS: '[{"type": "aws-ssm"}]',
        AIRFLOW__SECRETS__BACKEND: 'airflow.secrets.local_filesystem.LocalFilesystemBackend',
      })[0],
    ).toContain('cannot be combined');
    expect(issuesOf({ AIRLOCK__SECRETS__BACKENDS: '{"type": "aws-ssm"}' })[0]).toContain(
      'must be a JSON list',
    );
  });

  it('treats empty settings as unset, as Airflow does', () => {
    const config = loadConfig({
      AIRFLOW__SECRETS__BACKEND: '',
      AIRFLOW__SECRETS__BACKEND_KWARGS: '',
    });
    expect(config.secrets.backends).toEqual([]);
  });

  it("reads booleans with Airflow's words and the sensitive names list", () => {
    const config = loadConfig({
      AIRLOCK__SECRETS__FALLTHROUGH_ON_ERROR: 'True',
      AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES: ' pin , ssn,,',
      AIRFLOW__CORE__HIDE_SENSITIVE_VAR_CONN_FIELDS: 'f',
    });
    expect(config.secrets.fallthroughOnError).toBe(true);
    expect(config.core.sensitiveVarConnNames).toEqual(['pin', 'ssn']);
    expect(config.core.hideSensitiveVarConnFields).toBe(false);
  });

  it('returns a deeply frozen object', () => {
    const config = loadConfig({
      AIRLOCK__SECRETS__BACKENDS:
        '[{"type": "local-file", "kwargs": {"variables_file_path": "/v.json"}}]',
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.secrets.backends)).toBe(true);
    expect(Object.isFrozen(config.secrets.backends[0]?.kwargs)).toBe(true);
    expect(() => {
      (config as { home: string }).home = 'x';
    }).toThrow(TypeError);
  });

  it('puts the metastore in airlock.db in the home by default, with no Fernet key set', () => {
    const config = loadConfig({ AIRLOCK_HOME: '/srv/airlock' });
    expect(config.database).toEqual({
      url: 'sqlite:////srv/airlock/airlock.db',
      configuredBy: null,
    });
    expect(config.core.fernetKey).toBeNull();
    expect(Object.isFrozen(config.database)).toBe(true);
  });

  it("takes the database URL from AIRLOCK__DATABASE__URL, then Airflow's names", () => {
    const airflow = 'postgresql+psycopg2://airflow:pw@db/airflow';
    expect(loadConfig({ AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: airflow }).database).toEqual({
      url: airflow,
      configuredBy: 'AIRFLOW__DATABASE__SQL_ALCHEMY_CONN',
    });
    expect(loadConfig({ AIRFLOW__CORE__SQL_ALCHEMY_CONN: airflow }).database.configuredBy).toBe(
      'AIRFLOW__CORE__SQL_ALCHEMY_CONN',
    );
    const both = loadConfig({
      AIRLOCK__DATABASE__URL: 'sqlite:////tmp/mine.db',
      AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: airflow,
    });
    expect(both.database.url).toBe('sqlite:////tmp/mine.db');
    expect(loadConfig({ AIRLOCK__DATABASE__URL: '  ' }).database.configuredBy).toBeNull();
  });

  it('refuses an unsupported database URL without echoing it', () => {
    const issues = issuesOf({ AIRLOCK__DATABASE__URL: 'mysql://root:db-s3cret@h/airflow' });
    expect(issues).toEqual([
      'AIRLOCK__DATABASE__URL: the scheme `mysql` is not supported; use sqlite:// or postgresql://',
    ]);
  });

  it('reads the Fernet key list, AIRLOCK__ before AIRFLOW__ and each value before its _CMD', () => {
    const a = Fernet.generateKey();
    const b = Fernet.generateKey();
    expect(loadConfig({ AIRFLOW__CORE__FERNET_KEY: `${a}, ${b}` }).core.fernetKey).toEqual({
      from: 'AIRFLOW__CORE__FERNET_KEY',
      value: `${a}, ${b}`,
    });
    expect(
      loadConfig({ AIRFLOW__CORE__FERNET_KEY: a, AIRLOCK__CORE__FERNET_KEY: b }).core.fernetKey,
    ).toEqual({ from: 'AIRLOCK__CORE__FERNET_KEY', value: b });
    expect(
      loadConfig({ AIRFLOW__CORE__FERNET_KEY_CMD: 'cat /run/secrets/fernet' }).core.fernetKey,
    ).toEqual({ from: 'AIRFLOW__CORE__FERNET_KEY_CMD', command: 'cat /run/secrets/fernet' });
    expect(
      loadConfig({ AIRLOCK__CORE__FERNET_KEY_CMD: 'x', AIRFLOW__CORE__FERNET_KEY: a }).core
        .fernetKey?.from,
    ).toBe('AIRLOCK__CORE__FERNET_KEY_CMD');
    // An empty key is "not configured", as in Airflow.
    expect(loadConfig({ AIRFLOW__CORE__FERNET_KEY: '' }).core.fernetKey).toBeNull();
  });

  it('refuses a bad Fernet key by its position, never quoting it', () => {
    const good = Fernet.generateKey();
    const bad = `${good.slice(0, 40)}zz`;
    const issues = issuesOf({ AIRLOCK__CORE__FERNET_KEY: `${good},${bad}` });
    expect(issues).toEqual([
      'AIRLOCK__CORE__FERNET_KEY: Fernet key #2 is invalid: it must be 32 url-safe base64-encoded bytes',
    ]);
    expect(issues.join()).not.toContain(good.slice(0, 40));
  });

  it('defaults the cache to on: 900 s for values, 30 s for misses, no stale serving', () => {
    expect(loadConfig({}).secrets.cache).toEqual({
      enabled: true,
      ttlSeconds: { variable: 900, connection: 900 },
      negativeTtlSeconds: 30,
      maxStaleSeconds: 0,
      maxEntries: 10_000,
      sharedUrl: null,
      sharedTimeoutMs: 1000,
    });
  });

  it('bounds each lookup to 30 s unless AIRLOCK__SECRETS__LOOKUP_TIMEOUT_SECONDS says otherwise', () => {
    expect(loadConfig({}).secrets.lookupTimeoutSeconds).toBe(30);
    expect(
      loadConfig({ AIRLOCK__SECRETS__LOOKUP_TIMEOUT_SECONDS: '0' }).secrets.lookupTimeoutSeconds,
    ).toBe(0);
    expect(issuesOf({ AIRLOCK__SECRETS__LOOKUP_TIMEOUT_SECONDS: 'soon' })).toEqual([
      'AIRLOCK__SECRETS__LOOKUP_TIMEOUT_SECONDS: must be a whole number of seconds',
    ]);
  });

  it("reads the cache settings, accepting Airflow's use_cache and cache_ttl_seconds names", () => {
    const cache = loadConfig({
      AIRFLOW__SECRETS__USE_CACHE: 'False',
      AIRFLOW__SECRETS__CACHE_TTL_SECONDS: '60',
      AIRLOCK__SECRETS__CONNECTIONS_CACHE_TTL_SECONDS: '5',
      AIRLOCK__SECRETS__NEGATIVE_CACHE_TTL_SECONDS: '0',
      AIRLOCK__SECRETS__MAX_STALE_SECONDS: '120',
      AIRLOCK__SECRETS__CACHE_MAX_ENTRIES: '50',
      AIRLOCK__SECRETS__SHARED_CACHE_URL: 'redis://:pw@127.0.0.1:6379/1',
      AIRLOCK__SECRETS__SHARED_CACHE_TIMEOUT_MS: '250',
    }).secrets.cache;
    expect(cache).toEqual({
      enabled: false,
      ttlSeconds: { variable: 60, connection: 5 },
      negativeTtlSeconds: 0,
      maxStaleSeconds: 120,
      maxEntries: 50,
      sharedUrl: 'redis://:pw@127.0.0.1:6379/1',
      sharedTimeoutMs: 250,
    });
    expect(
      loadConfig({
        AIRLOCK__SECRETS__CACHE_TTL_SECONDS: '10',
        AIRFLOW__SECRETS__CACHE_TTL_SECONDS: '20',
      }).secrets.cache.ttlSeconds.variable,
    ).toBe(10);
  });

  it('lists every bad cache setting without quoting a shared-cache URL', () => {
    expect(
      issuesOf({
        AIRLOCK__SECRETS__USE_CACHE: 'maybe',
        AIRLOCK__SECRETS__CACHE_TTL_SECONDS: '-1',
        AIRLOCK__SECRETS__CACHE_MAX_ENTRIES: '0',
        AIRLOCK__SECRETS__SHARED_CACHE_URL: 'memcached://user:hunter2@h',
      }),
    ).toEqual([
      'AIRLOCK__SECRETS__USE_CACHE: must be true or false',
      'AIRLOCK__SECRETS__CACHE_TTL_SECONDS: must be a whole number of seconds',
      'AIRLOCK__SECRETS__CACHE_MAX_ENTRIES: must be a whole number ≥ 1',
      'AIRLOCK__SECRETS__SHARED_CACHE_URL: only redis:// URLs are supported',
    ]);
  });

  it('loads the same configuration asynchronously, listing the same problems', async () => {
    const good = {
      AIRFLOW__SECRETS__BACKEND: 'airflow.secrets.local_filesystem.LocalFilesystemBackend',
      AIRFLOW__SECRETS__BACKEND_KWARGS: '{"variables_file_path": "/etc/vars.json"}',
    };
    const loaded = await loadConfigAsync(good);
    // The same data (JSON leaves out the factories), and factories that build the same backend.
    expect(JSON.stringify(loaded)).toBe(JSON.stringify(loadConfig(good)));
    expect(loaded.secrets.backends[0]?.create().name).toBe('local-file');
    const bad = {
      AIRLOCK__SECRETS__BACKENDS: '[{"type": "vault", "kwargs": {"url": 5}}, {"type": "nope"}]',
      AIRLOCK__SECRETS__CACHE_TTL_SECONDS: 'soon',
    };
    const issues = issuesOf(bad);
    expect(issues.length).toBeGreaterThanOrEqual(3);
    await expect(loadConfigAsync(bad)).rejects.toMatchObject({ issues });
  });

  it('reads mask_all_resolved, leaving the default to the process when unset', () => {
    expect(loadConfig({}).core.maskAllResolved).toBeNull();
    expect(loadConfig({ AIRLOCK__CORE__MASK_ALL_RESOLVED: 'false' }).core.maskAllResolved).toBe(
      false,
    );
    expect(loadConfig({ AIRLOCK__CORE__MASK_ALL_RESOLVED: 'T' }).core.maskAllResolved).toBe(true);
    expect(() => loadConfig({ AIRLOCK__CORE__MASK_ALL_RESOLVED: 'maybe' })).toThrow(
      /AIRLOCK__CORE__MASK_ALL_RESOLVED: must be true or false/,
    );
  });
});
