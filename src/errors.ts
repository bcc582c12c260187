/**
 * @module errors
 * The one error class of airlock and its catalogue of stable codes.
 *
 * Every failure airlock reports carries a code of the form `AIRLOCK_ERR_<AREA>_<WHAT>`, an HTTP
 * status for the server boundary and a one-line summary. Messages name the thing that failed
 * (a key, a conn_id, a backend) and never contain a secret value. `docs/errors.md` has one row per
 * code, and a test keeps the two identical.
 */

/** The error catalogue: code → HTTP status and a one-line summary. A retired code is never reused. */
export const ERROR_CODES = {
  AIRLOCK_ERR_INTERNAL: { status: 500, summary: 'An unexpected internal error.' },

  AIRLOCK_ERR_CONFIG_INVALID: { status: 500, summary: 'The configuration is invalid.' },

  AIRLOCK_ERR_CONN_URI_INVALID: { status: 400, summary: 'A connection URI cannot be parsed.' },
  AIRLOCK_ERR_CONN_PORT_INVALID: { status: 400, summary: 'A connection port is not a valid port.' },
  AIRLOCK_ERR_CONN_EXTRA_INVALID: {
    status: 400,
    summary: 'A connection extra is not a JSON object.',
  },
  AIRLOCK_ERR_CONN_JSON_INVALID: { status: 400, summary: 'A connection JSON document is invalid.' },
  AIRLOCK_ERR_CONN_FIELDS_CONFLICT: {
    status: 400,
    summary: 'A connection was given both a URI and separate fields.',
  },
  AIRLOCK_ERR_CONN_ID_INVALID: { status: 400, summary: 'A conn_id is not valid.' },
  AIRLOCK_ERR_CONN_NOT_FOUND: { status: 404, summary: 'No source defines the connection.' },
  AIRLOCK_ERR_CONN_TEST_FAILED: {
    status: 400,
    summary: 'A connection failed its test (`airlock connections test`).',
  },

  AIRLOCK_ERR_VAR_NOT_FOUND: { status: 404, summary: 'No source defines the variable.' },
  AIRLOCK_ERR_VAR_JSON_INVALID: {
    status: 422,
    summary: 'A variable was asked for as JSON but its value is not JSON.',
  },

  AIRLOCK_ERR_BACKEND_UNAVAILABLE: {
    status: 503,
    summary: 'A secrets backend failed or could not be reached.',
  },
  AIRLOCK_ERR_BACKEND_AUTH: {
    status: 502,
    summary: 'A secrets backend refused the credentials or the permission.',
  },
  AIRLOCK_ERR_BACKEND_TIMEOUT: {
    status: 504,
    summary: 'A secrets backend did not answer in time.',
  },
  AIRLOCK_ERR_BACKEND_THROTTLED: {
    status: 503,
    summary: 'A secrets backend kept throttling the request after airlock backed off.',
  },
  AIRLOCK_ERR_BACKEND_NOT_AVAILABLE: {
    status: 501,
    summary: 'The configured secrets backend is not available in this version of airlock.',
  },
  AIRLOCK_ERR_BACKEND_SDK_MISSING: {
    status: 501,
    summary: 'The npm package (SDK) a configured backend needs is not installed.',
  },
  AIRLOCK_ERR_BACKEND_FILE_PARSE: {
    status: 500,
    summary: 'A local secrets file has a syntax error.',
  },
  AIRLOCK_ERR_BACKEND_FILE_MISSING: {
    status: 500,
    summary: 'A local secrets file does not exist or cannot be read.',
  },
  AIRLOCK_ERR_BACKEND_VALUE_INVALID: {
    status: 502,
    summary: 'A secrets backend returned a value of the wrong shape.',
  },
  AIRLOCK_ERR_BACKEND_VERSION_DISABLED: {
    status: 502,
    summary: 'The version a secrets backend would serve is disabled or destroyed.',
  },
  AIRLOCK_ERR_BACKEND_READ_ONLY: {
    status: 400,
    summary: 'The backend named for a write cannot be written by airlock.',
  },
  AIRLOCK_ERR_BACKEND_NAME_INVALID: {
    status: 400,
    summary:
      'A Variable key or conn_id makes a name the target store cannot hold or would not read.',
  },
  AIRLOCK_ERR_BACKEND_CHECKSUM_MISMATCH: {
    status: 502,
    summary: 'A value read from a secrets backend did not match its checksum.',
  },

  AIRLOCK_ERR_STORE_UNAVAILABLE: {
    status: 503,
    summary: 'The metastore database cannot be opened or reached.',
  },
  AIRLOCK_ERR_STORE_QUERY_FAILED: { status: 500, summary: 'A metastore query failed.' },
  AIRLOCK_ERR_STORE_CONFLICT: {
    status: 409,
    summary: 'The metastore already holds a Variable or Connection with this key.',
  },
  AIRLOCK_ERR_STORE_KEY_INVALID: {
    status: 400,
    summary: 'A Variable key does not fit the metastore (empty, or longer than 250 characters).',
  },
  AIRLOCK_ERR_STORE_VALUE_INVALID: {
    status: 400,
    summary: 'A value cannot be stored unchanged (it holds a lone UTF-16 surrogate).',
  },
  AIRLOCK_ERR_STORE_IMPORT_INVALID: {
    status: 400,
    summary: 'An import file cannot be read or has an invalid entry; nothing was imported.',
  },

  AIRLOCK_ERR_CRYPTO_KEY_INVALID: {
    status: 500,
    summary: 'A Fernet key is not 32 url-safe base64-encoded bytes.',
  },
  AIRLOCK_ERR_CRYPTO_KEY_MISSING: {
    status: 500,
    summary: 'An encrypted value was read but no Fernet key is configured.',
  },
  AIRLOCK_ERR_CRYPTO_TOKEN_INVALID: {
    status: 500,
    summary: 'A Fernet token is malformed, expired, or was made with another key.',
  },
  AIRLOCK_ERR_CRYPTO_KEY_WRONG: {
    status: 500,
    summary: "None of the configured Fernet keys is the metastore's key; nothing was written.",
  },
  AIRLOCK_ERR_CRYPTO_KEY_UNREADABLE: {
    status: 500,
    summary: 'The Fernet key file or key command could not be read.',
  },

  AIRLOCK_ERR_MIGRATION_FAILED: {
    status: 500,
    summary: 'A metastore schema migration failed; the schema was left as it was.',
  },
  AIRLOCK_ERR_MIGRATION_PENDING: {
    status: 503,
    summary: 'The metastore schema is older than this version of airlock.',
  },
  AIRLOCK_ERR_MIGRATION_UNKNOWN: {
    status: 500,
    summary: 'The metastore schema was migrated by a newer version of airlock.',
  },

  AIRLOCK_ERR_HTTP_BAD_REQUEST: {
    status: 400,
    summary: 'An HTTP request has a missing or invalid parameter or body.',
  },
  AIRLOCK_ERR_HTTP_UNAUTHENTICATED: {
    status: 401,
    summary: 'An HTTP request carries no valid session, API token or credentials.',
  },
  AIRLOCK_ERR_HTTP_FORBIDDEN: {
    status: 403,
    summary: "The signed-in user's role does not allow the request.",
  },
  AIRLOCK_ERR_HTTP_CSRF: {
    status: 403,
    summary: 'A form or cookie-authenticated request lacks a valid CSRF token.',
  },
  AIRLOCK_ERR_HTTP_NOT_FOUND: { status: 404, summary: 'The requested resource does not exist.' },
  AIRLOCK_ERR_HTTP_CONFLICT: { status: 409, summary: 'The resource already exists.' },
  AIRLOCK_ERR_HTTP_RATE_LIMITED: {
    status: 429,
    summary: 'Too many failed sign-ins for this user or address; wait before retrying.',
  },
  AIRLOCK_ERR_HTTP_PAYLOAD_TOO_LARGE: {
    status: 413,
    summary: 'An HTTP request body is larger than the server accepts for that route.',
  },
  AIRLOCK_ERR_HTTP_SETTING_REFUSED: {
    status: 400,
    summary: 'A deployment setting would control how spawned programs run, and is not allowed.',
  },
  AIRLOCK_ERR_HTTP_DEPLOYMENT_INVALID: {
    status: 503,
    summary: 'The deployment settings make a configuration the server cannot use (yet).',
  },
  AIRLOCK_ERR_HTTP_LAST_ADMIN: {
    status: 409,
    summary: 'The change would leave the server without an admin.',
  },
  AIRLOCK_ERR_HTTP_LISTEN_FAILED: {
    status: 500,
    summary: 'The server cannot listen on the address and port it was given.',
  },

  AIRLOCK_ERR_DAG_INVALID: {
    status: 400,
    summary: 'A DAG is malformed (bad id, schedule or timezone, cycle, duplicate or unknown task).',
  },
  AIRLOCK_ERR_DAG_PARAMS_INVALID: {
    status: 400,
    summary: "A run's conf does not satisfy the DAG's params.",
  },
  AIRLOCK_ERR_DAG_XCOM_INVALID: {
    status: 400,
    summary: 'A task returned a value that is not JSON-serialisable or is over the size limit.',
  },
  AIRLOCK_ERR_DAG_XCOM_NOT_FOUND: {
    status: 404,
    summary: 'The upstream task has no value for this run, or is not upstream.',
  },
  AIRLOCK_ERR_DAG_IMPORT_FAILED: { status: 400, summary: 'A DAG file could not be loaded.' },
  AIRLOCK_ERR_DAG_NOT_FOUND: { status: 404, summary: 'No DAG file defines the DAG.' },
  AIRLOCK_ERR_DAG_TASK_NOT_FOUND: { status: 404, summary: 'The DAG has no such task.' },
  AIRLOCK_ERR_DAG_RUN_NOT_FOUND: { status: 404, summary: 'The DAG has no such run.' },
  AIRLOCK_ERR_DAG_RUN_FAILED: { status: 500, summary: 'A DAG run or task try failed.' },

  AIRLOCK_ERR_CLI_USAGE: { status: 400, summary: 'A command was called with wrong arguments.' },
  AIRLOCK_ERR_CLI_COMMAND_FAILED: {
    status: 500,
    summary: 'The command given to `airlock run` could not be started.',
  },
  AIRLOCK_ERR_CLI_NODE_VERSION: {
    status: 500,
    summary: 'The Node.js running airlock is older than the minimum it supports.',
  },
} as const satisfies Record<string, { status: number; summary: string }>;

/** A stable airlock error code, such as `AIRLOCK_ERR_BACKEND_AUTH`. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Options of {@link AirlockError}: the standard `cause` plus structured, secret-free details. */
export interface AirlockErrorOptions extends ErrorOptions {
  /** Names and numbers that help (a key, a backend, a status); never a secret value. */
  details?: Record<string, string | number>;
}

/**
 * The base class of every error airlock throws on purpose.
 *
 * @example
 * ```ts
 * throw new AirlockError('AIRLOCK_ERR_BACKEND_UNAVAILABLE', 'vault: could not read variable `db_url` (HTTP 503)');
 * ```
 */
export class AirlockError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, string | number> | undefined;

  constructor(code: ErrorCode, message: string, options: AirlockErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AirlockError';
    this.code = code;
    this.details = options.details;
  }

  /** The HTTP status the server answers this error with. */
  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  /** A JSON form with the code, message and details (the cause is left out: it may be foreign). */
  toJSON(): {
    name: string;
    code: ErrorCode;
    message: string;
    details?: Record<string, string | number>;
  } {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

/**
 * Thrown when a Variable or Connection is asked for without a default and no source defines it
 * (Airflow's `KeyError` / `AirflowNotFoundException`).
 *
 * @example
 * ```ts
 * if (err instanceof NotFoundError) console.error(err.code); // AIRLOCK_ERR_VAR_NOT_FOUND
 * ```
 */
export class NotFoundError extends AirlockError {
  constructor(
    code: 'AIRLOCK_ERR_VAR_NOT_FOUND' | 'AIRLOCK_ERR_CONN_NOT_FOUND',
    message: string,
    options: AirlockErrorOptions = {},
  ) {
    super(code, message, options);
    this.name = 'NotFoundError';
  }
}

/**
 * Thrown when the configuration is invalid; `issues` lists every problem as `path: message`,
 * without the offending values.
 *
 * @example
 * ```ts
 * try { loadConfig(env) } catch (err) { if (err instanceof ConfigError) console.error(err.issues) }
 * ```
 */
export class ConfigError extends AirlockError {
  readonly issues: readonly string[];

  constructor(issues: readonly string[], options: AirlockErrorOptions = {}) {
    const list = issues.length === 0 ? ['invalid configuration'] : issues;
    super('AIRLOCK_ERR_CONFIG_INVALID', `invalid configuration: ${list.join('; ')}`, options);
    this.name = 'ConfigError';
    this.issues = Object.freeze([...list]);
  }
}

/** Whether `value` is an {@link AirlockError} (also across realms, by duck typing on `code`). */
export function isAirlockError(value: unknown): value is AirlockError {
  if (value instanceof AirlockError) return true;
  if (!(value instanceof Error)) return false;
  const code: unknown = (value as { code?: unknown }).code;
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}
