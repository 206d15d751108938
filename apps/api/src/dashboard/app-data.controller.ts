import { Controller, Get, Param, Post, Query, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { AppDataService } from './app-data.service';
import { AppsService } from './apps.service';
import { DashboardAuthGuard } from './auth/dashboard-auth.guard';
import type { DashboardRequest } from './auth/dashboard-request';
import { Requires } from './auth/permissions';
import { Doc, EX } from './dashboard.docs';
import { parseQuery } from './dashboard.http';
import { dailyQuery, devicesQuery, messagesQuery, pageSchema } from './dashboard.schemas';

/** What happened in an app: messages with their stats and progress, devices and their ledger, daily figures. */
@ApiTags('dashboard-activity')
@ApiBearerAuth('dashboard')
@Controller('dashboard/v1/apps/:id')
@UseGuards(DashboardAuthGuard)
export class DashboardAppDataController {
  constructor(
    private readonly apps: AppsService,
    private readonly data: AppDataService,
  ) {}

  @Get('messages')
  @Requires('apps.read')
  @Doc({
    summary: 'Message history, newest first; filters: status (comma list), source, from, to (ISO 8601)',
    response: EX.page(EX.message),
  })
  async messages(@Req() req: DashboardRequest, @Param('id') id: string, @Query() query: unknown) {
    return this.data.messages(await this.apps.appOf(req.dashboard, id), parseQuery(messagesQuery, query));
  }

  @Get('messages/:msgId')
  @Requires('apps.read')
  @Doc({
    summary: 'One message: request, progress %, totals, stats by channel and failures by reason',
    response: {
      ...EX.message,
      request: { platform: 'all', audience: 'all', notification: { alert: 'Hello' } },
      by_channel: { apns: EX.message.totals },
      failures: [{ channel: 'apns', reason: 'BadDeviceToken', count: 100 }],
      shards: { total: 5, done: 2 },
    },
  })
  async message(@Req() req: DashboardRequest, @Param('id') id: string, @Param('msgId') msgId: string) {
    return this.data.message(await this.apps.appOf(req.dashboard, id), msgId);
  }

  @Post('messages/:msgId/cancel')
  @Requires('messages.cancel')
  @Doc({
    summary: 'Cancels a message: the same as DELETE /v3/push/{msg_id}',
    response: { ...EX.message, status: 'cancelled', cancelled_at: '2026-11-22T04:52:00.000Z' },
  })
  async cancel(@Req() req: DashboardRequest, @Param('id') id: string, @Param('msgId') msgId: string) {
    const app = await this.apps.appOf(req.dashboard, id);
    return this.data.cancel(req, req.dashboard, app, msgId);
  }

  @Get('devices')
  @Requires('apps.read')
  @Doc({
    summary:
      'Device search: registration_id, alias, tag, token_suffix (4–8 characters, or the whole token), status, channel',
    response: EX.page(EX.device),
  })
  async devices(@Req() req: DashboardRequest, @Param('id') id: string, @Query() query: unknown) {
    return this.data.devices(await this.apps.appOf(req.dashboard, id), parseQuery(devicesQuery, query));
  }

  @Get('devices/:rid')
  @Requires('apps.read')
  @Doc({ summary: 'One device (its token shown by its last six characters only)', response: EX.device })
  async device(@Req() req: DashboardRequest, @Param('id') id: string, @Param('rid') rid: string) {
    return this.data.device(await this.apps.appOf(req.dashboard, id), rid);
  }

  @Get('devices/:rid/deliveries')
  @Requires('apps.read')
  @Doc({
    summary: "The device's recent deliveries from the ledger, newest first",
    response: EX.page(EX.delivery),
  })
  async deliveries(
    @Req() req: DashboardRequest,
    @Param('id') id: string,
    @Param('rid') rid: string,
    @Query() query: unknown,
  ) {
    return this.data.deviceDeliveries(
      await this.apps.appOf(req.dashboard, id),
      rid,
      parseQuery(pageSchema, query),
    );
  }

  @Get('stats/daily')
  @Requires('apps.read')
  @Doc({
    summary:
      "Per day in the app's time zone: messages, sent, failed, delivered, clicked, new and active devices",
    response: { timezone: 'Asia/Shanghai', from: '2026-11-21', to: '2026-11-21', items: [EX.day] },
  })
  async daily(@Req() req: DashboardRequest, @Param('id') id: string, @Query() query: unknown) {
    return this.data.daily(await this.apps.appOf(req.dashboard, id), parseQuery(dailyQuery, query));
  }
}
