/**
 * @module config/runtime-settings
 * The deployment settings that would control how the programs a deployment spawns run (a task's
 * `node`, a `sh -c`, `python`, `git`, …): a setting reaches the environment of every task and DAG
 * discovery process, so `NODE_OPTIONS=--require …` or `LD_PRELOAD` saved through the web UI would
 * be code execution on the host. The server refuses to save them and every process (server,
 * worker, CLI) refuses to apply them, unless the process allows them by name
 * (`AIRLOCK__SERVER__ALLOWED_RUNTIME_SETTINGS`, or `airlock server --allow-setting NAME`).
 */

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Environment variables that make a program the deployment spawns (a task's `node`, a `sh -c`,
 * `python`, `psql`, `git`, …) load or run other code, or write where airlock reads code from.
 * (`NODE_EXTRA_CA_CERTS` and the CA bundle variables only add trust, and are deployment settings
 * on purpose: see `process-settings.ts`.)
 */
export const RUNTIME_CONTROL_SETTINGS: readonly string[] = Object.freeze([
  // Node.js
  'NODE_OPTIONS',
  'NODE_PATH',
  'NODE_REPL_EXTERNAL_MODULE',
  'NODE_V8_COVERAGE',
  'NODE_TLS_REJECT_UNAUTHORIZED',
  'NODE_ICU_DATA',
  'NODE_REDIRECT_WARNINGS',
  'NODE_COMPILE_CACHE',
  'UV_THREADPOOL_SIZE',
  // the dynamic linker and libc
  'GCONV_PATH',
  'GLIBC_TUNABLES',
  'MALLOC_CHECK_',
  'HOSTALIASES',
  'LOCPATH',
  'NLSPATH',
  'RESOLV_HOST_CONF',
  'TZDIR',
  // shells
  'PATH',
  'BASH_ENV',
  'ENV',
  'SHELLOPTS',
  'BASHOPTS',
  'PS4',
  'PROMPT_COMMAND',
  'IFS',
  'CDPATH',
  'ZDOTDIR',
  'SHELL',
  'HOME',
  'TMPDIR',
  // Python
  'PYTHONPATH',
  'PYTHONSTARTUP',
  'PYTHONHOME',
  'PYTHONINSPECT',
  'PYTHONUSERBASE',
  'PYTHONBREAKPOINT',
  'PYTHONWARNINGS',
  'PYTHONEXECUTABLE',
  'PYTHONPLATLIBDIR',
  'PYTHONSAFEPATH',
  'PYTHONNOUSERSITE',
  'PYTHONPYCACHEPREFIX',
  // Perl, Ruby, Java
  'PERL5OPT',
  'PERL5LIB',
  'PERLLIB',
  'PERL5DB',
  'RUBYOPT',
  'RUBYLIB',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'JDK_JAVA_OPTIONS',
  'CLASSPATH',
  // programs that run a command or load modules named by a variable
  'GIT_SSH',
  'GIT_SSH_COMMAND',
  'GIT_EXEC_PATH',
  'GIT_ASKPASS',
  'SSH_ASKPASS',
  'EDITOR',
  'VISUAL',
  'PAGER',
  'BROWSER',
  'OPENSSL_CONF',
  'OPENSSL_ENGINES',
  'OPENSSL_MODULES',
  // where airlock finds the code it runs and writes task logs
  'AIRLOCK_HOME',
  'AIRLOCK__CORE__DAGS_FOLDER',
  'AIRFLOW__CORE__DAGS_FOLDER',
  'AIRLOCK__LOGGING__BASE_LOG_FOLDER',
  'AIRFLOW__LOGGING__BASE_LOG_FOLDER',
]);

/** Name prefixes with the same effect (`LD_PRELOAD`, `DYLD_INSERT_LIBRARIES`, `npm_config_…`). */
export const RUNTIME_CONTROL_PREFIXES: readonly string[] = Object.freeze([
  'LD_',
  'DYLD_',
  'BASH_FUNC_',
  'NPM_CONFIG_',
  'GIT_CONFIG',
]);

/**
 * Whether a setting by this name controls how spawned programs run (compared in upper case:
 * `npm_config_script_shell` is `NPM_CONFIG_SCRIPT_SHELL`).
 *
 * @example
 * ```ts
 * controlsRuntime('LD_PRELOAD'); // true
 * controlsRuntime('AIRFLOW_VAR_BUCKET'); // false
 * ```
 */
export function controlsRuntime(name: string): boolean {
  const upper = name.toUpperCase();
  return (
    RUNTIME_CONTROL_SETTINGS.includes(upper) ||
    RUNTIME_CONTROL_PREFIXES.some((prefix) => upper.startsWith(prefix))
  );
}

/**
 * The names `AIRLOCK__SERVER__ALLOWED_RUNTIME_SETTINGS` allows (comma-separated).
 *
 * @example
 * ```ts
 * allowedSettingsFromEnv({ AIRLOCK__SERVER__ALLOWED_RUNTIME_SETTINGS: 'PATH, TZDIR' }); // ['PATH', 'TZDIR']
 * ```
 */
export function allowedSettingsFromEnv(env: Env): string[] {
  return (env.AIRLOCK__SERVER__ALLOWED_RUNTIME_SETTINGS ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
}

/**
 * Whether a deployment setting by this name may be applied in a process started with `env`.
 *
 * @example
 * ```ts
 * settingApplies('NODE_OPTIONS', process.env); // false unless allowed
 * ```
 */
export function settingApplies(name: string, env: Env): boolean {
  return !controlsRuntime(name) || allowedSettingsFromEnv(env).includes(name);
}
