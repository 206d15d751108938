import { Body, Controller, Headers, Param, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { HeraldError } from '@herald/common';
import { assertPayloadsFit, parsePushRequest, type PushSpec } from '@herald/push';
import { PushService } from '../push/push.service';
import { AppsService } from './apps.service';
import { actorOf, AuditService } from './audit.service';
import { DashboardAuthGuard } from './auth/dashboard-auth.guard';
import type { DashboardRequest } from './auth/dashboard-request';
import { Requires } from './auth/permissions';
import { Doc } from './dashboard.docs';
import { dashboardCallbackRefused } from './dashboard.http';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

const BODY = {
  platform: 'all',
  audience: { tag: ['vip'] },
  notification: { alert: 'Hello', ios: { badge: '+1' }, android: { title: 'Herald' } },
  options: { time_to_live: 3600 },
};

/**
 * Pushing from the console: after creating an app the dashboard holds no master secret, so these
 * routes act for an app of the caller's tenant with the caller's role. They take the `/v3/push` body
 * and run the very same parser, size check and `PushService` as the developer API.
 */
@ApiTags('dashboard-push')
@ApiBearerAuth('dashboard')
@Controller('dashboard/v1/apps/:id/push')
@UseGuards(DashboardAuthGuard)
export class DashboardPushController {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly apps: AppsService,
    private readonly push: PushService,
    private readonly audit: AuditService,
  ) {}

  @Post('validate')
  @Requires('push.send')
  @Doc({
    summary: 'POST /v3/push/validate for this app: audience size, per-channel counts and payload sizes',
    body: BODY,
    response: {
      sendno: '0',
      msg_id: '0',
      audience_size: 1200,
      channels: { apns: { count: 700, payload_bytes: 96 }, fcm: { count: 500, payload_bytes: 143 } },
      payload_sizes: { apns: 96, fcm: 143, gateway: 120 },
    },
  })
  async validate(@Req() req: DashboardRequest, @Param('id') id: string, @Body() body: unknown) {
    const app = await this.apps.appOf(req.dashboard, id);
    // The console shows an empty audience as 0 devices rather than as an error.
    return this.push.validate(app, parse(body, app.appKey), { emptyAudience: 'report' });
  }

  @Post()
  @Requires('push.send')
  @Doc({
    summary: 'POST /v3/push for this app (Idempotency-Key honoured); audited as push.send',
    body: BODY,
    response: { sendno: '0', msg_id: '1000000042' },
  })
  async send(
    @Req() req: DashboardRequest,
    @Param('id') id: string,
    @Body() body: unknown,
    @Headers('idempotency-key') key?: string,
  ) {
    const app = await this.apps.appOf(req.dashboard, id);
    const spec = parse(body, app.appKey);
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      throw new HeraldError('invalid_parameter', 'Idempotency-Key: 1 to 255 visible ASCII characters');
    }
    const result = await this.push.accept(app, spec, {
      idempotencyKey: key,
      correlationId: typeof req.id === 'string' ? req.id : undefined,
    });
    // A replayed Idempotency-Key or cid answers the first message without sending: audited once, when sent.
    if (key !== undefined || spec.cid) {
      const seen = await this.db.query<unknown[]>(
        `SELECT 1 FROM audit_log
          WHERE tenant_id = $1 AND app_id = $2 AND action = 'push.send' AND target_id = $3 LIMIT 1`,
        [app.tenantId, app.id, result.msg_id],
      );
      if (seen.length > 0) return result;
    }
    await this.audit.record(req, actorOf(req.dashboard), {
      action: 'push.send',
      appId: app.id,
      targetType: 'message',
      targetId: result.msg_id,
      details: { platform: spec.platform, audience: summary(spec) },
    });
    return result;
  }
}

function parse(body: unknown, appKey: string): PushSpec {
  const spec = parsePushRequest(body, { appKey });
  if (spec.callback) throw dashboardCallbackRefused();
  assertPayloadsFit(spec);
  return spec;
}

/** The audience's kinds only (never registration ids or aliases themselves) for the audit entry. */
function summary(spec: PushSpec): string | string[] {
  if (spec.audience.all) return 'all';
  return Object.entries(spec.audience)
    .filter(([k, v]) => k !== 'all' && v !== undefined)
    .map(([k]) => k)
    .sort();
}
