import { Body, Controller, HttpCode, Inject, Param, Post, Put, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { HeraldError } from '@herald/common';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { isAppKey } from '@herald/crypto';
import { RateLimiter } from '@herald/platform';
import { AppDirectory } from '../auth/app-directory';
import { DeviceAuthGuard } from '../auth/device-auth.guard';
import type { DeviceRequest } from '../auth/request-context';
import { DeviceService } from '../devices/device.service';
import {
  receiptSchema,
  registerSchema,
  sdkAliasSchema,
  sdkTagsSchema,
  updateSchema,
} from '../devices/device.schemas';
import { parseBody } from '../http/parse-body';

/** The device-facing API (api.md §2). */
@ApiTags('sdk')
@Controller('sdk/v1')
export class SdkController {
  constructor(
    private readonly devices: DeviceService,
    private readonly limiter: RateLimiter,
    private readonly apps: AppDirectory,
    @Inject(HERALD_CONFIG) private readonly config: HeraldConfig,
  ) {}

  @Post('register')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Register a device (idempotent per token); returns its registration id and a new device secret',
  })
  @ApiHeader({ name: 'X-App-Key', required: true })
  async register(@Req() req: Request, @Body() body: unknown) {
    const appKey = req.headers['x-app-key'];
    if (typeof appKey !== 'string' || !isAppKey(appKey)) {
      throw new HeraldError('unauthorized', 'X-App-Key must be the 24-character appKey');
    }
    const app = await this.apps.byKey(appKey);
    if (!app) throw new HeraldError('unauthorized', 'unknown appKey');
    const [perAddress, perApp] = await this.limiter.hitAll([
      { bucket: `reg:ip:${req.ip ?? 'unknown'}`, limit: this.config.sdk.registerPerMinute },
      { bucket: `reg:app:${app.id}`, limit: this.config.sdk.registerPerAppPerMinute },
    ]);
    for (const [hit, who] of [
      [perAddress, 'this address'],
      [perApp, 'this app'],
    ] as const) {
      if (!hit.allowed) {
        const retryAfter = String(Math.max(1, hit.resetAt - Math.floor(Date.now() / 1000)));
        throw new HeraldError(
          'rate_limited',
          `too many registrations from ${who}: at most ${hit.limit} per minute`,
          {
            headers: { 'Retry-After': retryAfter },
          },
        );
      }
    }
    const input = parseBody(registerSchema, body);
    const reg = await this.devices.register(app, input, req.ip);
    return {
      registration_id: reg.registrationId,
      device_secret: reg.deviceSecret,
      gateway_url: this.config.gateway.publicUrl,
    };
  }

  @Put('devices/:rid')
  @UseGuards(DeviceAuthGuard)
  @ApiBearerAuth('device')
  @ApiOperation({
    summary: 'Update token, language, time zone, region, versions; a new token reactivates the device',
  })
  async update(@Req() req: DeviceRequest, @Body() body: unknown) {
    await this.devices.update(req.heraldDevice, parseBody(updateSchema, body));
    return {};
  }

  @Post('devices/:rid/tags')
  @HttpCode(200)
  @UseGuards(DeviceAuthGuard)
  @ApiBearerAuth('device')
  @ApiOperation({ summary: 'Change the device’s tags: {add, remove} or {set}' })
  async tags(@Req() req: DeviceRequest, @Body() body: unknown) {
    const tags = await this.devices.setTags(req.heraldDevice, parseBody(sdkTagsSchema, body));
    return { tags };
  }

  @Post('devices/:rid/alias')
  @HttpCode(200)
  @UseGuards(DeviceAuthGuard)
  @ApiBearerAuth('device')
  @ApiOperation({ summary: 'Set the device’s alias, or clear it with null' })
  async alias(@Req() req: DeviceRequest, @Param('rid') _rid: string, @Body() body: unknown) {
    const { alias } = parseBody(sdkAliasSchema, body);
    await this.devices.setAlias(req.heraldDevice, alias);
    return {};
  }

  @Post('receipts')
  @HttpCode(200)
  @UseGuards(DeviceAuthGuard)
  @ApiBearerAuth('device')
  @ApiOperation({ summary: 'Report delivered / opened / dismissed for an APNs or FCM message' })
  async receipt(@Req() req: DeviceRequest, @Body() body: unknown) {
    const r = parseBody(receiptSchema, body);
    await this.devices.recordReceipt(req.heraldDevice, {
      msgId: String(r.msg_id),
      event: r.event,
      at: r.at ? new Date(r.at) : undefined,
    });
    return {};
  }
}
