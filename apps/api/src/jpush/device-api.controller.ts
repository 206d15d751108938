import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Query,
  Req,
  UseGuards,
} from '@nestjs/common';
import { ApiBasicAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AppAuthGuard } from '../auth/app-auth.guard';
import { UseJPushFamily } from '../auth/jpush-family';
import type { AppRequest } from '../auth/request-context';
import { jpushDeviceUpdateSchema, jpushStatusSchema, jpushTagDevicesSchema } from '../devices/device.schemas';
import { DeviceService, parsePlatformsQuery } from '../devices/device.service';
import { PRESENCE_READER, type PresenceReader } from '../devices/presence.reader';
import { parseBody } from '../http/parse-body';

const DEVICE_CODES = { missing: 7002, invalid: 7002 };

/** JPush's device format for `last_online_time`: local wall-clock `YYYY-MM-DD HH:mm:ss` (here UTC). */
function jpushTime(d: Date): string {
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

/**
 * JPush's device, tag and alias APIs (`device.jpush.cn` paths), exactly as JPush documents them:
 * `rest_api_v3_device.md`. Errors use the 7xxx family.
 */
@ApiTags('jpush-device')
@ApiBasicAuth('app')
@Controller('v3')
@UseGuards(AppAuthGuard)
@UseJPushFamily('device')
export class DeviceApiController {
  constructor(
    private readonly devices: DeviceService,
    @Inject(PRESENCE_READER) private readonly presence: PresenceReader,
  ) {}

  @Post('devices/status')
  @HttpCode(200)
  @ApiOperation({ summary: 'Online status of up to 1000 devices' })
  async status(@Req() req: AppRequest, @Body() body: unknown) {
    const { registration_ids: rids } = parseBody(jpushStatusSchema, body, DEVICE_CODES);
    const [seen, online] = await Promise.all([
      this.devices.lastSeen(req.heraldApp, rids),
      this.presence.online(rids),
    ]);
    const out: Record<string, { online?: boolean; last_online_time?: string }> = {};
    for (const rid of rids) {
      // JPush answers an unknown or foreign registration id with an empty result.
      if (!seen.has(rid)) {
        out[rid] = {};
        continue;
      }
      const last = seen.get(rid);
      out[rid] = online.has(rid)
        ? { online: true }
        : { online: false, ...(last ? { last_online_time: jpushTime(last) } : {}) };
    }
    return out;
  }

  @Get('devices/:rid')
  @ApiOperation({ summary: 'Tags, alias and mobile of a device' })
  async get(@Req() req: AppRequest, @Param('rid') rid: string) {
    const d = await this.devices.findInApp(req.heraldApp, rid);
    return { tags: d.tags.length > 0 ? d.tags : null, alias: d.alias, mobile: d.mobile };
  }

  @Post('devices/:rid')
  @HttpCode(200)
  @ApiOperation({ summary: 'Set tags (add/remove, or "" to clear), alias ("" clears) and mobile' })
  async update(@Req() req: AppRequest, @Param('rid') rid: string, @Body() body: unknown) {
    await this.devices.jpushUpdate(
      req.heraldApp,
      rid,
      parseBody(jpushDeviceUpdateSchema, body, DEVICE_CODES),
    );
    return {};
  }

  @Get('tags')
  @ApiOperation({ summary: 'The app’s tags (at most 100 per platform)' })
  async tags(@Req() req: AppRequest) {
    return { tags: await this.devices.listTags(req.heraldApp) };
  }

  @Get('tags/:tag/registration_ids/:rid')
  @ApiOperation({ summary: 'Whether a device has a tag' })
  async hasTag(@Req() req: AppRequest, @Param('tag') tag: string, @Param('rid') rid: string) {
    return { result: await this.devices.tagHasDevice(req.heraldApp, tag, rid) };
  }

  @Post('tags/:tag')
  @HttpCode(200)
  @ApiOperation({ summary: 'Add devices to or remove them from a tag (≤ 1000 each)' })
  async updateTag(@Req() req: AppRequest, @Param('tag') tag: string, @Body() body: unknown) {
    const { registration_ids } = parseBody(jpushTagDevicesSchema, body, DEVICE_CODES);
    await this.devices.updateTagDevices(req.heraldApp, tag, registration_ids);
    return {};
  }

  @Delete('tags/:tag')
  @ApiOperation({ summary: 'Remove a tag from every device (optionally of some platforms)' })
  async deleteTag(@Req() req: AppRequest, @Param('tag') tag: string, @Query('platform') platform?: string) {
    await this.devices.deleteTag(req.heraldApp, tag, parsePlatformsQuery(platform));
    return {};
  }

  @Get('aliases/:alias')
  @ApiOperation({ summary: 'The devices of an alias (at most 10)' })
  async alias(@Req() req: AppRequest, @Param('alias') alias: string, @Query('platform') platform?: string) {
    return {
      registration_ids: await this.devices.aliasDevices(req.heraldApp, alias, parsePlatformsQuery(platform)),
    };
  }

  @Delete('aliases/:alias')
  @ApiOperation({ summary: 'Unbind an alias from its devices' })
  async deleteAlias(
    @Req() req: AppRequest,
    @Param('alias') alias: string,
    @Query('platform') platform?: string,
  ) {
    await this.devices.deleteAlias(req.heraldApp, alias, parsePlatformsQuery(platform));
    return {};
  }
}
