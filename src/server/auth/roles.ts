/**
 * @module server/auth/roles
 * The three roles and what each may do:
 *
 * | permission | viewer | editor | admin |
 * | --- | --- | --- | --- |
 * | names, provenance, health | yes | yes | yes |
 * | read values (variables, connection passwords and extras) | no | yes | yes |
 * | create, change, delete, import metastore values; test connections | no | yes | yes |
 * | users, deployment settings | no | no | yes |
 *
 * Airflow's role names map onto these (`users create -r Op`, the API's `role`): `Admin` → admin;
 * `Op` → editor (Airflow's Op manages Connections and Variables); `User` and `Viewer` → viewer
 * (neither reads nor edits Connections or Variables in Airflow, and values are what airlock
 * guards; triggering a DAG needs editor); `Public` grants nothing in Airflow, so no airlock user
 * has it.
 */
import { AirlockError } from '../../errors.ts';

/** The roles, least to most privileged. */
export const ROLES = ['viewer', 'editor', 'admin'] as const;
/** A role. */
export type Role = (typeof ROLES)[number];

/** What a request may need. */
export type Permission = 'read-names' | 'read-secrets' | 'write' | 'admin';

const GRANTS: Readonly<Record<Role, ReadonlySet<Permission>>> = {
  viewer: new Set(['read-names']),
  editor: new Set(['read-names', 'read-secrets', 'write']),
  admin: new Set(['read-names', 'read-secrets', 'write', 'admin']),
};

/** Airflow's role names and the airlock role each maps to (`Public` has none). */
export const AIRFLOW_ROLES = Object.freeze({
  Admin: 'admin',
  Op: 'editor',
  User: 'viewer',
  Viewer: 'viewer',
} as const satisfies Record<string, Role>);

/**
 * A role named as airlock (`admin`, `editor`, `viewer`) or as Airflow (`Admin`, `Op`, `User`,
 * `Viewer`) names it.
 *
 * @throws AirlockError `AIRLOCK_ERR_HTTP_BAD_REQUEST` for `Public` and any other name.
 * @example
 * ```ts
 * parseRole('Op'); // 'editor'
 * ```
 */
export function parseRole(value: string): Role {
  if (isRole(value)) return value;
  if (Object.hasOwn(AIRFLOW_ROLES, value))
    return AIRFLOW_ROLES[value as keyof typeof AIRFLOW_ROLES];
  if (value === 'Public') {
    throw new AirlockError(
      'AIRLOCK_ERR_HTTP_BAD_REQUEST',
      "Airflow's Public role grants no access, so no airlock user has it; use Viewer",
    );
  }
  throw new AirlockError(
    'AIRLOCK_ERR_HTTP_BAD_REQUEST',
    "the role must be admin, editor or viewer (or Airflow's Admin, Op, User, Viewer)",
  );
}

/** The Airflow role name of an airlock role (`viewer` → `Viewer`, `editor` → `Op`). */
export function airflowRoleOf(role: Role): 'Admin' | 'Op' | 'Viewer' {
  return role === 'admin' ? 'Admin' : role === 'editor' ? 'Op' : 'Viewer';
}

/** Whether `value` is a role. */
export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/**
 * Whether `role` has `permission`.
 *
 * @example
 * ```ts
 * can('viewer', 'read-secrets'); // false
 * ```
 */
export function can(role: Role, permission: Permission): boolean {
  return GRANTS[role].has(permission);
}

/** Throws `AIRLOCK_ERR_HTTP_FORBIDDEN` unless `role` has `permission`. */
export function requirePermission(role: Role, permission: Permission): void {
  if (!can(role, permission)) {
    throw new AirlockError(
      'AIRLOCK_ERR_HTTP_FORBIDDEN',
      `the ${role} role may not do this (it needs the ${permission} permission)`,
      { details: { role, permission } },
    );
  }
}
