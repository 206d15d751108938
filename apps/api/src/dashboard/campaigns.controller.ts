import { Body, Controller, Get, Param, Patch, Post, Query, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { CampaignService } from '../schedules/campaign.service';
import { parseBody } from '../http/parse-body';
import { AppsService } from './apps.service';
import { actorOf, AuditService } from './audit.service';
import { DashboardAuthGuard } from './auth/dashboard-auth.guard';
import type { DashboardRequest } from './auth/dashboard-request';
import { Requires } from './auth/permissions';
import { Doc } from './dashboard.docs';
import { parseQuery } from './dashboard.http';
import { pageSchema } from './dashboard.schemas';

const createSchema = z.object({ name: z.unknown(), push: z.unknown(), trigger: z.unknown() }).strict();
const updateSchema = z
  .object({ name: z.unknown().optional(), push: z.unknown().optional(), trigger: z.unknown().optional() })
  .strict();

const EXAMPLE = {
  id: '0b8f6a44-1a2b-4c3d-9e8f-6a7b8c9d0e1f',
  app_id: '6f1c2d1e-3b7a-4c1e-9d57-2f7e0f6a1b23',
  name: 'weekly_digest',
  status: 'scheduled',
  trigger: {
    periodical: {
      start: '2026-12-01 00:00:00',
      end: '2027-06-01 00:00:00',
      time: '09:00:00',
      time_unit: 'week',
      frequency: 1,
      point: ['MON'],
    },
  },
  push: { platform: 'all', audience: { tag: ['digest'] }, notification: { alert: 'This week on Herald' } },
  local_time: false,
  timezone: 'Asia/Shanghai',
  next_fire_at: '2026-12-07T01:00:00.000Z',
  last_fire_at: null,
  runs: 0,
};
const RUN = {
  fire_at: '2026-12-07T01:00:00.000Z',
  utc_offset_minutes: 0,
  msg_id: '1000000042',
  status: 'completed',
  targets: 1200,
  sent: 1190,
  failed: 10,
  delivered: 1100,
  clicked: 87,
};

/**
 * Campaigns (a push template + a schedule + a name) under an app of the caller's tenant: the service
 * is `CampaignService` (the schedules module); this is its dashboard door, with the role check and the
 * audit entry of every change.
 */
@ApiTags('dashboard-campaigns')
@ApiBearerAuth('dashboard')
@Controller('dashboard/v1/apps/:id/campaigns')
@UseGuards(DashboardAuthGuard)
export class DashboardCampaignsController {
  constructor(
    private readonly apps: AppsService,
    private readonly campaigns: CampaignService,
    private readonly audit: AuditService,
  ) {}

  @Get()
  @Requires('apps.read')
  @Doc({ summary: 'Campaigns of the app, newest first', response: { items: [EXAMPLE], next_cursor: null } })
  async list(@Req() req: DashboardRequest, @Param('id') id: string, @Query() query: unknown) {
    const app = await this.apps.appOf(req.dashboard, id);
    return this.campaigns.list(app, parseQuery(pageSchema, query));
  }

  @Post()
  @Requires('campaigns.write')
  @Doc({
    summary: 'Creates a campaign: name, push (a /v3/push body, `options.local_time` allowed) and trigger',
    status: 201,
    body: { name: EXAMPLE.name, push: EXAMPLE.push, trigger: EXAMPLE.trigger },
    response: EXAMPLE,
  })
  async create(@Req() req: DashboardRequest, @Param('id') id: string, @Body() body: unknown) {
    const app = await this.apps.appOf(req.dashboard, id);
    const input = parseBody(createSchema, body);
    const view = await this.campaigns.create(app, input, req.dashboard.userId);
    await this.record(req, app.id, 'campaign.create', view.id, { name: view.name });
    return view;
  }

  @Get(':campaignId')
  @Requires('apps.read')
  @Doc({ summary: 'One campaign', response: EXAMPLE })
  async get(@Req() req: DashboardRequest, @Param('id') id: string, @Param('campaignId') cid: string) {
    return this.campaigns.get(await this.apps.appOf(req.dashboard, id), cid);
  }

  @Patch(':campaignId')
  @Requires('campaigns.write')
  @Doc({
    summary: 'Replaces any of name, push, trigger',
    body: { name: 'weekly_digest_v2' },
    response: EXAMPLE,
  })
  async update(
    @Req() req: DashboardRequest,
    @Param('id') id: string,
    @Param('campaignId') cid: string,
    @Body() body: unknown,
  ) {
    const app = await this.apps.appOf(req.dashboard, id);
    const input = parseBody(updateSchema, body);
    const view = await this.campaigns.update(app, cid, input);
    await this.record(req, app.id, 'campaign.update', cid, { fields: Object.keys(input) });
    return view;
  }

  @Post(':campaignId/pause')
  @Requires('campaigns.write')
  @Doc({ summary: 'Pauses: nothing fires until resumed', response: { ...EXAMPLE, status: 'paused' } })
  async pause(@Req() req: DashboardRequest, @Param('id') id: string, @Param('campaignId') cid: string) {
    return this.act(req, id, cid, 'pause');
  }

  @Post(':campaignId/resume')
  @Requires('campaigns.write')
  @Doc({ summary: 'Resumes, planning from now (missed times are not sent late)', response: EXAMPLE })
  async resume(@Req() req: DashboardRequest, @Param('id') id: string, @Param('campaignId') cid: string) {
    return this.act(req, id, cid, 'resume');
  }

  @Post(':campaignId/cancel')
  @Requires('campaigns.write')
  @Doc({
    summary: 'Cancels for good; runs and their messages stay',
    response: { ...EXAMPLE, status: 'cancelled' },
  })
  async cancel(@Req() req: DashboardRequest, @Param('id') id: string, @Param('campaignId') cid: string) {
    return this.act(req, id, cid, 'cancel');
  }

  @Get(':campaignId/runs')
  @Requires('apps.read')
  @Doc({
    summary: "The campaign's runs, newest first, with their message's counts",
    response: { items: [RUN], next_cursor: null },
  })
  async runs(
    @Req() req: DashboardRequest,
    @Param('id') id: string,
    @Param('campaignId') cid: string,
    @Query() query: unknown,
  ) {
    const app = await this.apps.appOf(req.dashboard, id);
    return this.campaigns.runs(app, cid, parseQuery(pageSchema, query));
  }

  private async act(req: DashboardRequest, id: string, cid: string, action: 'pause' | 'resume' | 'cancel') {
    const app = await this.apps.appOf(req.dashboard, id);
    const view = await this.campaigns[action](app, cid);
    await this.record(req, app.id, `campaign.${action}`, cid);
    return view;
  }

  private record(req: DashboardRequest, appId: string, action: string, id: string, details?: object) {
    return this.audit.record(req, actorOf(req.dashboard), {
      action,
      appId,
      targetType: 'campaign',
      targetId: id,
      ...(details && { details: details as Record<string, unknown> }),
    });
  }
}
