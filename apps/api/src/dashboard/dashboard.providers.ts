import { DashboardCampaignsController } from './campaigns.controller';
import { DashboardAppDataController } from './app-data.controller';
import { AppDataService } from './app-data.service';
import { DashboardAppsController } from './apps.controller';
import { AppsService } from './apps.service';
import { AuditService } from './audit.service';
import { AccountService } from './auth/account.service';
import { AuthAttempts } from './auth/auth-attempts';
import { DashboardAuthGuard } from './auth/dashboard-auth.guard';
import { DashboardAuthController } from './auth.controller';
import { CredentialsService } from './credentials.service';
import { MembersService } from './members.service';
import { DashboardPushController } from './push.controller';
import { DashboardTenantController } from './tenant.controller';

/**
 * The dashboard's controllers and providers, registered by ApiModule itself: they share its
 * PushService (test sends, cancel) and AppDirectory (cache invalidation) rather than duplicating them.
 */
export const DASHBOARD_CONTROLLERS = [
  DashboardAuthController,
  DashboardTenantController,
  DashboardAppsController,
  DashboardAppDataController,
  DashboardCampaignsController,
  DashboardPushController,
];

export const DASHBOARD_PROVIDERS = [
  AccountService,
  AppDataService,
  AppsService,
  AuditService,
  AuthAttempts,
  CredentialsService,
  DashboardAuthGuard,
  MembersService,
];
