/**
 * @module masking/sensitive-keys
 * Airflow's rule for "sensitive" names: a Variable key, an extra field or a kwarg is sensitive
 * when any of these words is a substring of its lower-cased name.
 */

/**
 * Airflow's `DEFAULT_SENSITIVE_FIELDS` (2.x list plus the words current `main` adds).
 * Extended at run time by `sensitive_var_conn_names`.
 */
export const DEFAULT_SENSITIVE_FIELDS: readonly string[] = Object.freeze([
  'access_token',
  'api_key',
  'apikey',
  'authorization',
  'passphrase',
  'passwd',
  'password',
  'private_key',
  'secret',
  'token',
  'keyfile_dict',
  'service_account',
  'access_key',
  'auth_header',
  'bearer',
  'connection_string',
  'dsn',
  'proxy',
  'proxy_password',
  'proxies',
  'service_key',
  'webhook_url',
]);

/**
 * Whether `name` is sensitive: after trimming, lower-casing and folding runs of non-word
 * characters to `_` (Airflow 3.x), any sensitive word is a substring of it.
 *
 * @example
 * ```ts
 * isSensitiveName('db_password_2'); // true
 * isSensitiveName('pass');          // false
 * ```
 */
export function isSensitiveName(name: string, extraWords: readonly string[] = []): boolean {
  const normalised = name
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_]+/gu, '_');
  for (const word of DEFAULT_SENSITIVE_FIELDS) if (normalised.includes(word)) return true;
  for (const word of extraWords) {
    const w = word.trim().toLowerCase();
    if (w !== '' && normalised.includes(w)) return true;
  }
  return false;
}

/**
 * A deep copy of `value` in which every value under a sensitive key is replaced by `***`
 * (strings only; numbers, booleans and null are kept, as Airflow's `redact` does).
 *
 * @example
 * ```ts
 * redactSensitive({ url: 'x', token: 's3cr3t' }); // { url: 'x', token: '***' }
 * ```
 */
export function redactSensitive(value: unknown, extraWords: readonly string[] = []): unknown {
  const walk = (v: unknown, sensitive: boolean): unknown => {
    if (typeof v === 'string') return sensitive ? '***' : v;
    if (Array.isArray(v)) return v.map((item) => walk(item, sensitive));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, inner] of Object.entries(v)) {
        out[k] = walk(inner, sensitive || isSensitiveName(k, extraWords));
      }
      return out;
    }
    return v;
  };
  return walk(value, false);
}
