import { Body, Controller, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { parseBody } from '../http/parse-body';
import { AccountService, type Session } from './auth/account.service';
import { AuthAttempts } from './auth/auth-attempts';
import { DashboardAuthGuard } from './auth/dashboard-auth.guard';
import type { DashboardRequest } from './auth/dashboard-request';
import { PublicRoute } from './auth/permissions';
import { Doc, EX } from './dashboard.docs';
import { acceptInviteSchema, loginSchema, refreshSchema, signupSchema } from './dashboard.schemas';
import { MembersService } from './members.service';

/**
 * Accounts (api.md §3's fixed entry points): signup, login, refresh; logout; accepting an invitation.
 * The public ones are rate limited (AuthAttempts) before any password is hashed or verified.
 */
@ApiTags('dashboard-auth')
@Controller('dashboard/v1/auth')
@UseGuards(DashboardAuthGuard)
export class DashboardAuthController {
  constructor(
    private readonly accounts: AccountService,
    private readonly members: MembersService,
    private readonly attempts: AuthAttempts,
  ) {}

  @Post('signup')
  @PublicRoute()
  @Doc({
    summary: 'A new tenant with its owner; answers a login session',
    status: 201,
    body: { email: 'owner@example.com', password: 'correct horse battery', tenant_name: 'Example Inc.' },
    response: EX.session,
  })
  async signup(@Req() req: Request, @Body() body: unknown): Promise<Session> {
    const input = parseBody(signupSchema, body);
    await this.attempts.check({ address: clientAddress(req), email: input.email });
    return this.accounts.signup(req, input);
  }

  @Post('login')
  @PublicRoute()
  @Doc({
    summary: 'E-mail and password → access token (15 min) and refresh token; tenant_id picks a tenant',
    body: { email: 'owner@example.com', password: 'correct horse battery' },
    response: EX.session,
  })
  async login(@Req() req: Request, @Body() body: unknown): Promise<Session> {
    const input = parseBody(loginSchema, body);
    await this.attempts.check({ address: clientAddress(req), email: input.email });
    return this.accounts.login(req, input);
  }

  @Post('refresh')
  @PublicRoute()
  @Doc({
    summary: 'Rotates the refresh token (each works once; reuse revokes the whole login)',
    body: { refresh_token: 'hrt_…' },
    response: EX.session,
  })
  async refresh(@Req() req: Request, @Body() body: unknown): Promise<Session> {
    const { refresh_token } = parseBody(refreshSchema, body);
    await this.attempts.check({ address: clientAddress(req) });
    return this.accounts.refresh(req, refresh_token);
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
  async accept(@Req() req: Request, @Body() body: unknown): Promise<Session> {
    const input = parseBody(acceptInviteSchema, body);
    await this.attempts.check({ address: clientAddress(req) });
    // The invitation's e-mail address is counted once the invitation is found (MembersService).
    return this.members.accept(req, input);
  }
}

/** The client's address as Express derives it (`X-Forwarded-For` only from HERALD_TRUSTED_PROXIES). */
function clientAddress(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}
