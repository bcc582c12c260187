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
