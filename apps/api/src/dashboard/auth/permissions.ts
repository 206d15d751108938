import { SetMetadata } from '@nestjs/common';
import type { MemberRole } from '@herald/db';

export const ROLES: readonly MemberRole[] = ['owner', 'admin', 'developer', 'viewer'];

/**
 * The written permission matrix (docs/api-guide.md repeats it; dashboard-auth.int-spec.ts checks every
 * cell over HTTP). Reading is open to every member; changing the team, the apps and their secrets is
 * for owners and admins; day-to-day push work (credentials, test sends, segments, cancelling) is also
 * open to developers; deleting an app and renaming the tenant are the owner's alone.
 */
export const PERMISSIONS = {
  'tenant.read': ['owner', 'admin', 'developer', 'viewer'],
  'tenant.update': ['owner'],
  'members.read': ['owner', 'admin', 'developer', 'viewer'],
  'members.manage': ['owner', 'admin'],
  'apps.read': ['owner', 'admin', 'developer', 'viewer'],
  'apps.write': ['owner', 'admin'],
  'apps.delete': ['owner'],
  'apps.rotate_secret': ['owner', 'admin'],
  'credentials.write': ['owner', 'admin', 'developer'],
  'push.test': ['owner', 'admin', 'developer'],
  'push.send': ['owner', 'admin', 'developer'],
  'segments.write': ['owner', 'admin', 'developer'],
  'campaigns.write': ['owner', 'admin', 'developer'],
  'messages.cancel': ['owner', 'admin', 'developer'],
  'audit.read': ['owner', 'admin'],
} as const satisfies Record<string, readonly MemberRole[]>;

export type Permission = keyof typeof PERMISSIONS;

export function allows(role: MemberRole, permission: Permission): boolean {
  return (PERMISSIONS[permission] as readonly MemberRole[]).includes(role);
}

/** Role rank: an admin may grant or change roles up to admin, only an owner touches owners. */
export const ROLE_RANK: Record<MemberRole, number> = { owner: 3, admin: 2, developer: 1, viewer: 0 };

export const REQUIRED_PERMISSION = 'herald:dashboard-permission';
export const PUBLIC_ROUTE = 'herald:dashboard-public';

/** Declares what a dashboard route needs; routes without it need only a valid token. */
export const Requires = (permission: Permission) => SetMetadata(REQUIRED_PERMISSION, permission);
/** Routes that authenticate by their body (signup, login, refresh, accepting an invitation). */
export const PublicRoute = () => SetMetadata(PUBLIC_ROUTE, true);
