import {
  Body,
  Controller,
  Delete,
  Get,
  Param,
  Patch,
  Post,
  Put,
  Query,
  Req,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AudienceService, parseFilter, type Segment } from '@herald/audience';
import { HeraldError } from '@herald/common';
import { parseBody } from '../http/parse-body';
import { AppsService, toAppView } from './apps.service';
import { actorOf, AuditService } from './audit.service';
import { DashboardAuthGuard } from './auth/dashboard-auth.guard';
import type { DashboardRequest } from './auth/dashboard-request';
import { Requires } from './auth/permissions';
import { CredentialsService } from './credentials.service';
import { Doc, EX } from './dashboard.docs';
import { iso, parseQuery } from './dashboard.http';
import {
  apnsSchema,
  createAppSchema,
  deleteCredentialQuery,
  estimateSchema,
  fcmSchema,
  pageSchema,
  rotateSchema,
  segmentSchema,
  segmentUpdateSchema,
  testSendSchema,
  updateAppSchema,
} from './dashboard.schemas';

const toSegmentView = (s: Segment) => ({
  id: s.id,
  name: s.name,
  filter: s.filter,
  created_at: iso(s.createdAt),
  updated_at: iso(s.updatedAt),
});

const toEstimate = (e: { total: number; byChannel: unknown; byPlatform: unknown }) => ({
  total: e.total,
  by_channel: e.byChannel,
  by_platform: e.byPlatform,
});

/** Apps, their master secret, provider credentials and saved segments. */
@ApiTags('dashboard-apps')
@ApiBearerAuth('dashboard')
@Controller('dashboard/v1/apps')
@UseGuards(DashboardAuthGuard)
export class DashboardAppsController {
  private readonly audience: AudienceService;

  constructor(
    @InjectDataSource() db: DataSource,
    private readonly apps: AppsService,
    private readonly credentials: CredentialsService,
    private readonly audit: AuditService,
  ) {
    this.audience = new AudienceService(db);
  }

  @Post()
  @Requires('apps.write')
  @Doc({
    summary: 'Creates an app; app_key and master_secret are shown once (api.md §3)',
    status: 201,
    body: { name: 'Demo', timezone: 'Asia/Shanghai' },
    response: { ...EX.app, master_secret: 'Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2' },
  })
  create(@Req() req: DashboardRequest, @Body() body: unknown) {
    return this.apps.create(req, req.dashboard, parseBody(createAppSchema, body));
  }

  @Get()
  @Requires('apps.read')
  @Doc({ summary: "The tenant's apps, newest first (paginated)", response: EX.page(EX.app) })
  list(@Req() req: DashboardRequest, @Query() query: unknown) {
    return this.apps.list(req.dashboard, parseQuery(pageSchema, query));
  }

  @Get(':id')
  @Requires('apps.read')
  @Doc({ summary: 'One app (never its secret)', response: EX.app })
  async get(@Req() req: DashboardRequest, @Param('id') id: string) {
    return toAppView(await this.apps.appOf(req.dashboard, id));
  }

  @Patch(':id')
  @Requires('apps.write')
  @Doc({
    summary: 'Updates name, time zone or rate limit',
    body: { name: 'Demo (prod)', timezone: 'Europe/Berlin', rate_limit_per_minute: 1200 },
    response: EX.app,
  })
  update(@Req() req: DashboardRequest, @Param('id') id: string, @Body() body: unknown) {
    return this.apps.update(req, req.dashboard, id, parseBody(updateAppSchema, body));
  }

  @Delete(':id')
  @Requires('apps.delete')
  @Doc({
    summary: 'Deletes the app with its devices, messages, credentials and segments (owner)',
    status: 204,
  })
  async delete(@Req() req: DashboardRequest, @Param('id') id: string): Promise<void> {
    await this.apps.delete(req, req.dashboard, id);
  }

  @Post(':id/rotate-secret')
  @Requires('apps.rotate_secret')
  @Doc({
    summary: 'New master secret (shown once); the old one works for overlap_seconds more (default 86400)',
    body: { overlap_seconds: 86400 },
    response: {
      master_secret: 'Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2',
      previous_secret_expires_at: '2026-11-23T04:51:47.000Z',
    },
  })
  rotate(@Req() req: DashboardRequest, @Param('id') id: string, @Body() body: unknown) {
    const input = parseBody(rotateSchema, body ?? {});
    return this.apps.rotateSecret(req, req.dashboard, id, AppsService.checkOverlap(input.overlap_seconds));
  }

  // ---- credentials ---------------------------------------------------------------------------------

  @Get(':id/credentials')
  @Requires('apps.read')
  @Doc({
    summary: 'Credential metadata only (at most three slots: APNs per environment, FCM)',
    response: { items: [EX.credential] },
  })
  async listCredentials(@Req() req: DashboardRequest, @Param('id') id: string) {
    return this.credentials.list(await this.apps.appOf(req.dashboard, id));
  }

  @Put(':id/credentials/apns')
  @Requires('credentials.write')
  @Doc({
    summary:
      'Uploads an APNs token key (.p8) or certificate (.p12, base64): validated, encrypted, never shown again',
    body: {
      environment: 'both',
      auth: 'token',
      key_id: 'ABC123DEFG',
      team_id: 'TEAM123456',
      bundle_id: 'com.example.app',
      key: '-----BEGIN PRIVATE KEY-----\n…\n-----END PRIVATE KEY-----',
    },
    response: EX.credential,
  })
  async putApns(@Req() req: DashboardRequest, @Param('id') id: string, @Body() body: unknown) {
    const app = await this.apps.appOf(req.dashboard, id);
    return this.credentials.putApns(req, req.dashboard, app, parseBody(apnsSchema, body));
  }

  @Put(':id/credentials/fcm')
  @Requires('credentials.write')
  @Doc({
    summary: 'Uploads an FCM service-account key file: validated, encrypted, never shown again',
    body: {
      service_account: {
        type: 'service_account',
        project_id: 'example-app',
        client_email: 'push@example-app.iam.gserviceaccount.com',
        private_key: '-----BEGIN PRIVATE KEY-----\n…',
      },
    },
    response: {
      ...EX.credential,
      provider: 'fcm',
      kind: 'service_account',
      key_id: null,
      team_id: null,
      bundle_id: null,
      project_id: 'example-app',
    },
  })
  async putFcm(@Req() req: DashboardRequest, @Param('id') id: string, @Body() body: unknown) {
    const app = await this.apps.appOf(req.dashboard, id);
    return this.credentials.putFcm(req, req.dashboard, app, parseBody(fcmSchema, body).service_account);
  }

  @Delete(':id/credentials/:provider')
  @Requires('credentials.write')
  @Doc({ summary: 'Removes the APNs (optionally ?environment=) or FCM credential', status: 204 })
  async deleteCredential(
    @Req() req: DashboardRequest,
    @Param('id') id: string,
    @Param('provider') provider: string,
    @Query() query: unknown,
  ): Promise<void> {
    const app = await this.apps.appOf(req.dashboard, id);
    if (provider !== 'apns' && provider !== 'fcm')
      throw new HeraldError('not_found', `no provider "${provider.slice(0, 20)}"`);
    await this.credentials.remove(
      req,
      req.dashboard,
      app,
      provider,
      parseQuery(deleteCredentialQuery, query).environment,
    );
  }

  @Post(':id/credentials/test')
  @Requires('push.test')
  @Doc({
    summary: 'Sends a test notification to one registration id through the normal pipeline (source: test)',
    body: { registration_id: '1a2b3c4d5e6f7g8h9i0j', alert: 'Hello from Herald' },
    response: { msg_id: '1000000042', channel: 'apns' },
  })
  async testSend(@Req() req: DashboardRequest, @Param('id') id: string, @Body() body: unknown) {
    const app = await this.apps.appOf(req.dashboard, id);
    return this.credentials.testSend(req, req.dashboard, app, parseBody(testSendSchema, body));
  }

  // ---- segments ------------------------------------------------------------------------------------

  @Post(':id/segments')
  @Requires('segments.write')
  @Doc({
    summary: 'Saves a named audience filter',
    status: 201,
    body: { name: 'Chinese speakers', filter: { language: ['zh'] } },
    response: EX.segment,
  })
  async createSegment(@Req() req: DashboardRequest, @Param('id') id: string, @Body() body: unknown) {
    const app = await this.apps.appOf(req.dashboard, id);
    const segment = await this.audience.segments.create(app.id, parseBody(segmentSchema, body));
    await this.audit.record(req, actorOf(req.dashboard), {
      action: 'segment.create',
      appId: app.id,
      targetType: 'segment',
      targetId: segment.id,
      details: { name: segment.name },
    });
    return toSegmentView(segment);
  }

  @Get(':id/segments')
  @Requires('apps.read')
  @Doc({ summary: "The app's segments by name (paginated)", response: EX.page(EX.segment) })
  async listSegments(@Req() req: DashboardRequest, @Param('id') id: string, @Query() query: unknown) {
    const app = await this.apps.appOf(req.dashboard, id);
    const q = parseQuery(pageSchema, query);
    const page = await this.audience.segments.list(app.id, { limit: q.limit, cursor: q.cursor });
    return { items: page.items.map(toSegmentView), next_cursor: page.nextCursor };
  }

  @Post(':id/segments/estimate')
  @Requires('apps.read')
  @Doc({
    summary: 'Size of an unsaved filter: total, by channel, by platform',
    body: { filter: { tag: ['vip'] } },
    response: EX.estimate,
  })
  async estimateFilter(@Req() req: DashboardRequest, @Param('id') id: string, @Body() body: unknown) {
    const app = await this.apps.appOf(req.dashboard, id);
    const { filter } = parseBody(estimateSchema, body);
    const parsed = parseFilter(filter, 'filter');
    return toEstimate(
      await this.audience.estimate(app.id, { platform: 'all', audience: { all: false, filter: parsed } }),
    );
  }

  @Get(':id/segments/:segmentId')
  @Requires('apps.read')
  @Doc({ summary: 'One segment', response: EX.segment })
  async getSegment(
    @Req() req: DashboardRequest,
    @Param('id') id: string,
    @Param('segmentId') segmentId: string,
  ) {
    const app = await this.apps.appOf(req.dashboard, id);
    return toSegmentView(await this.audience.segments.get(app.id, segmentId));
  }

  @Get(':id/segments/:segmentId/estimate')
  @Requires('apps.read')
  @Doc({ summary: "The segment's current size: total, by channel, by platform", response: EX.estimate })
  async estimateSegment(
    @Req() req: DashboardRequest,
    @Param('id') id: string,
    @Param('segmentId') segmentId: string,
  ) {
    const app = await this.apps.appOf(req.dashboard, id);
    const segment = await this.audience.segments.get(app.id, segmentId);
    return toEstimate(
      await this.audience.estimate(app.id, {
        platform: 'all',
        audience: { all: false, segment: [segment.id] },
      }),
    );
  }

  @Patch(':id/segments/:segmentId')
  @Requires('segments.write')
  @Doc({
    summary: 'Renames a segment or replaces its filter',
    body: { filter: { language: ['zh', 'en'] } },
    response: EX.segment,
  })
  async updateSegment(
    @Req() req: DashboardRequest,
    @Param('id') id: string,
    @Param('segmentId') segmentId: string,
    @Body() body: unknown,
  ) {
    const app = await this.apps.appOf(req.dashboard, id);
    const segment = await this.audience.segments.update(
      app.id,
      segmentId,
      parseBody(segmentUpdateSchema, body),
    );
    await this.audit.record(req, actorOf(req.dashboard), {
      action: 'segment.update',
      appId: app.id,
      targetType: 'segment',
      targetId: segment.id,
      details: { name: segment.name },
    });
    return toSegmentView(segment);
  }

  @Delete(':id/segments/:segmentId')
  @Requires('segments.write')
  @Doc({ summary: 'Deletes a segment', status: 204 })
  async deleteSegment(
    @Req() req: DashboardRequest,
    @Param('id') id: string,
    @Param('segmentId') segmentId: string,
  ) {
    const app = await this.apps.appOf(req.dashboard, id);
    await this.audience.segments.delete(app.id, segmentId);
    await this.audit.record(req, actorOf(req.dashboard), {
      action: 'segment.delete',
      appId: app.id,
      targetType: 'segment',
      targetId: segmentId,
    });
  }
}
