/**
 * @module util/yaml
 * The one bound on YAML aliases for every YAML file airlock reads (imports, the local-file
 * backend): aliases resolve as PyYAML's `safe_load` resolves them, up to a limit that stops an
 * alias bomb (a few lines that expand to gigabytes).
 */

/** The most alias expansions a YAML file may make (the `yaml` library's default). */
export const YAML_MAX_ALIAS_COUNT = 100;

/** Why a YAML file's aliases are refused (the `yaml` library throws a `ReferenceError`). */
export const YAML_ALIAS_PROBLEM =
  'a YAML alias cannot be resolved safely (it comes before its anchor, or the aliases expand beyond 100 nodes)';
