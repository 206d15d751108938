import { Body, Controller, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { parseBody } from '../http/parse-body';
import { AccountService, type Session } from './auth/account.service';
import { DashboardAuthGuard } from './auth/dashboard-auth.guard';
import type { DashboardRequest } from './auth/dashboard-request';
import { PublicRoute } from './auth/permissions';
import { Doc, EX } from './dashboard.docs';
import { acceptInviteSchema, loginSchema, refreshSchema, signupSchema } from './dashboard.schemas';
import { MembersService } from './members.service';

/** Accounts (api.md §3's fixed entry points): signup, login, refresh; logout; accepting an invitation. */
@ApiTags('dashboard-auth')
@Controller('dashboard/v1/auth')
@UseGuards(DashboardAuthGuard)
export class DashboardAuthController {
  constructor(
    private readonly accounts: AccountService,
    private readonly members: MembersService,
  ) {}

  @Post('signup')
  @PublicRoute()
  @Doc({
    summary: 'A new tenant with its owner; answers a login session',
    status: 201,
    body: { email: 'owner@example.com', password: 'correct horse battery', tenant_name: 'Example Inc.' },
    response: EX.session,
  })
  signup(@Req() req: Request, @Body() body: unknown): Promise<Session> {
    return this.accounts.signup(req, parseBody(signupSchema, body));
  }

  @Post('login')
  @PublicRoute()
  @Doc({
    summary: 'E-mail and password → access token (15 min) and refresh token; tenant_id picks a tenant',
    body: { email: 'owner@example.com', password: 'correct horse battery' },
    response: EX.session,
  })
  login(@Req() req: Request, @Body() body: unknown): Promise<Session> {
    return this.accounts.login(req, parseBody(loginSchema, body));
  }

  @Post('refresh')
  @PublicRoute()
  @Doc({
    summary: 'Rotates the refresh token (each works once; reuse revokes the whole login)',
    body: { refresh_token: 'hrt_…' },
    response: EX.session,
  })
  refresh(@Req() req: Request, @Body() body: unknown): Promise<Session> {
    return this.accounts.refresh(req, parseBody(refreshSchema, body).refresh_token);
  }

  @Post('logout')
  @ApiBearerAuth('dashboard')
  @Doc({ summary: 'Ends this login: its refresh tokens and access tokens stop working', status: 204 })
  async logout(@Req() req: DashboardRequest): Promise<void> {
    await this.accounts.logout(req, req.dashboard);
  }

  @Post('accept-invite')
  @PublicRoute()
  @Doc({
    summary: 'Accepts an invitation (a new address sets its password; an existing account gives its own)',
    body: { token: 'hinv_…', password: 'correct horse battery', display_name: 'Dev' },
    response: EX.session,
  })
  accept(@Req() req: Request, @Body() body: unknown): Promise<Session> {
    return this.members.accept(req, parseBody(acceptInviteSchema, body));
  }
}
