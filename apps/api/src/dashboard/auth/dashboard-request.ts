import type { Request } from 'express';
import type { MemberRole } from '@herald/db';

/** Who is calling: a user with an access token, or a script with one of the user's personal tokens. */
export interface DashboardPrincipal {
  userId: string;
  tenantId: string;
  role: MemberRole;
  actorType: 'user' | 'api_token';
  /** The personal token's id, for `api_token` callers. */
  tokenId: string | null;
  /** The login's refresh-token family (access tokens only): logout revokes it. */
  familyId: string | null;
}

export interface DashboardRequest extends Request {
  dashboard: DashboardPrincipal;
}
