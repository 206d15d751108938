import { Body, Controller, Delete, Get, Param, Patch, Post, Query, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { parseBody } from '../http/parse-body';
import { listAudit } from './audit.service';
import { AccountService } from './auth/account.service';
import { DashboardAuthGuard } from './auth/dashboard-auth.guard';
import type { DashboardRequest } from './auth/dashboard-request';
import { Requires } from './auth/permissions';
import { Doc, EX } from './dashboard.docs';
import { parseQuery } from './dashboard.http';
import {
  auditQuery,
  inviteSchema,
  pageSchema,
  personalTokenSchema,
  renameTenantSchema,
  roleSchema,
} from './dashboard.schemas';
import { MembersService } from './members.service';

/** The caller, the tenant, its members and invitations, personal API tokens and the audit log. */
@ApiTags('dashboard-tenant')
@ApiBearerAuth('dashboard')
@Controller('dashboard/v1')
@UseGuards(DashboardAuthGuard)
export class DashboardTenantController {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly members: MembersService,
    private readonly accounts: AccountService,
  ) {}

  @Get('me')
  @Doc({
    summary: 'The caller: user, current tenant and role, and every tenant they belong to',
    response: {
      user: { id: EX.uuid, email: 'owner@example.com', display_name: null },
      tenant_id: EX.uuid,
      role: 'owner',
      auth: 'user',
      tenants: [{ id: EX.uuid, name: 'Example Inc.', role: 'owner' }],
    },
  })
  me(@Req() req: DashboardRequest) {
    return this.members.me(req.dashboard);
  }

  @Get('tenant')
  @Requires('tenant.read')
  @Doc({
    summary: 'The current tenant',
    response: { id: EX.uuid, name: 'Example Inc.', created_at: '2026-11-22T04:51:47.000Z' },
  })
  tenant(@Req() req: DashboardRequest) {
    return this.members.tenant(req.dashboard);
  }

  @Patch('tenant')
  @Requires('tenant.update')
  @Doc({
    summary: 'Renames the tenant (owner)',
    body: { name: 'Example Ltd.' },
    response: { id: EX.uuid, name: 'Example Ltd.' },
  })
  renameTenant(@Req() req: DashboardRequest, @Body() body: unknown) {
    return this.members.renameTenant(req, req.dashboard, parseBody(renameTenantSchema, body).name);
  }

  @Get('members')
  @Requires('members.read')
  @Doc({ summary: 'Members and their roles (paginated)', response: EX.page(EX.member) })
  listMembers(@Req() req: DashboardRequest, @Query() query: unknown) {
    return this.members.list(req.dashboard, parseQuery(pageSchema, query));
  }

  @Patch('members/:userId')
  @Requires('members.manage')
  @Doc({
    summary: "Changes a member's role (only owners touch the owner role)",
    body: { role: 'admin' },
    response: EX.member,
  })
  changeRole(@Req() req: DashboardRequest, @Param('userId') userId: string, @Body() body: unknown) {
    return this.members.changeRole(req, req.dashboard, userId, parseBody(roleSchema, body).role);
  }

  @Delete('members/:userId')
  @Requires('members.manage')
  @Doc({ summary: 'Removes a member and revokes their logins and tokens in this tenant', status: 204 })
  async removeMember(@Req() req: DashboardRequest, @Param('userId') userId: string): Promise<void> {
    await this.members.remove(req, req.dashboard, userId);
  }

  @Post('invitations')
  @Requires('members.manage')
  @Doc({
    summary: 'Invites an e-mail with a role; the one-time invite_token is shown once (valid 7 days)',
    status: 201,
    body: { email: 'new@example.com', role: 'developer' },
    response: { ...EX.invitation, invite_token: 'hinv_…' },
  })
  invite(@Req() req: DashboardRequest, @Body() body: unknown) {
    return this.members.invite(req, req.dashboard, parseBody(inviteSchema, body));
  }

  @Get('invitations')
  @Requires('members.read')
  @Doc({ summary: 'Invitations, newest first (paginated)', response: EX.page(EX.invitation) })
  invitations(@Req() req: DashboardRequest, @Query() query: unknown) {
    return this.members.invitations(req.dashboard, parseQuery(pageSchema, query));
  }

  @Delete('invitations/:id')
  @Requires('members.manage')
  @Doc({ summary: 'Revokes a pending invitation', status: 204 })
  async revokeInvitation(@Req() req: DashboardRequest, @Param('id') id: string): Promise<void> {
    await this.members.revokeInvitation(req, req.dashboard, id);
  }

  @Post('tokens')
  @Doc({
    summary: "A personal API token for scripts (acts with the caller's role in this tenant); shown once",
    status: 201,
    body: { name: 'deploy script', expires_in_days: 90 },
    response: { ...EX.token, token: 'hpat_…' },
  })
  createToken(@Req() req: DashboardRequest, @Body() body: unknown) {
    return this.accounts.createPersonalToken(req, req.dashboard, parseBody(personalTokenSchema, body));
  }

  @Get('tokens')
  @Doc({
    summary: "The caller's personal tokens in this tenant (never the token itself)",
    response: EX.page(EX.token),
  })
  listTokens(@Req() req: DashboardRequest, @Query() query: unknown) {
    return this.accounts.listPersonalTokens(req.dashboard, parseQuery(pageSchema, query));
  }

  @Delete('tokens/:id')
  @Doc({ summary: 'Revokes one of the caller’s personal tokens', status: 204 })
  async revokeToken(@Req() req: DashboardRequest, @Param('id') id: string): Promise<void> {
    await this.accounts.revokePersonalToken(req, req.dashboard, id);
  }

  @Get('audit-log')
  @Requires('audit.read')
  @Doc({
    summary: 'Every change in this tenant: actor, time, source address (filters: app_id, action, actor_id)',
    response: EX.page(EX.audit),
  })
  audit(@Req() req: DashboardRequest, @Query() query: unknown) {
    return listAudit(this.db, req.dashboard.tenantId, parseQuery(auditQuery, query));
  }
}
