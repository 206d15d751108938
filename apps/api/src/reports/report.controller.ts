import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, UseGuards } from '@nestjs/common';
import { ApiBasicAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AppAuthGuard } from '../auth/app-auth.guard';
import { UseJPushFamily } from '../auth/jpush-family';
import type { AppRequest } from '../auth/request-context';
import { parseBody } from '../http/parse-body';
import { parseMsgIds, ReportService, statusSchema } from './report.service';

/**
 * JPush's report API (`report.jpush.cn/v3`, `rest_api_v3_report.md`) and Herald's per-device ledger.
 * Errors use the 1xxx family; `/v3/users` adds JPush's 3004 (start does not match time_unit) and
 * 3005 (outside the 60-day window).
 */
@ApiTags('jpush-report')
@ApiBasicAuth('app')
@Controller('v3')
@UseGuards(AppAuthGuard)
@UseJPushFamily('push')
export class ReportController {
  constructor(private readonly reports: ReportService) {}

  @Get('received')
  @ApiOperation({ summary: 'Delivery counts of up to 100 messages (old shape: android_received)' })
  async received(@Req() req: AppRequest, @Query('msg_ids') msgIds: unknown) {
    return this.reports.received(req.heraldApp, parseMsgIds(msgIds));
  }

  @Get('received/detail')
  @ApiOperation({
    summary: 'Delivery counts of up to 100 messages by channel (jpush_*, android_pns_*, ios_*)',
  })
  async receivedDetail(@Req() req: AppRequest, @Query('msg_ids') msgIds: unknown) {
    return this.reports.receivedDetail(req.heraldApp, parseMsgIds(msgIds));
  }

  @Get('messages')
  @ApiOperation({ summary: 'Targets, sends, deliveries and clicks of up to 100 messages (old shape)' })
  async messages(@Req() req: AppRequest, @Query('msg_ids') msgIds: unknown) {
    return this.reports.messages(req.heraldApp, parseMsgIds(msgIds));
  }

  // Declared before `messages/:msgId/devices/:rid` so the fixed path is matched first.
  @Get('messages/detail')
  @ApiOperation({
    summary: 'Per-channel statistics of up to 100 messages; `herald` adds failures by reason and dismissals',
  })
  async messagesDetail(@Req() req: AppRequest, @Query('msg_ids') msgIds: unknown) {
    return this.reports.messagesDetail(req.heraldApp, parseMsgIds(msgIds));
  }

  @Get('messages/:msgId/devices/:rid')
  @ApiOperation({ summary: 'Herald: the delivery ledger of one message on one device' })
  async ledger(@Req() req: AppRequest, @Param('msgId') msgId: string, @Param('rid') rid: string) {
    return this.reports.ledger(req.heraldApp, msgId, rid);
  }

  @Post('status/message')
  @HttpCode(200)
  @ApiOperation({ summary: 'Delivery status of one message on up to 1000 devices' })
  async status(@Req() req: AppRequest, @Body() body: unknown) {
    return this.reports.status(req.heraldApp, parseBody(statusSchema, body));
  }

  @Get('users')
  @ApiOperation({ summary: 'New and active devices per HOUR (today), DAY or MONTH, within 60 days' })
  async users(@Req() req: AppRequest, @Query() query: Record<string, unknown>) {
    return this.reports.users(req.heraldApp, query);
  }
}
