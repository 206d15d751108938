import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  Post,
  Put,
  Query,
  Req,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import { ApiBasicAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { parseScheduleBody, scheduleInvalid } from '@herald/schedules';
import { AppAuthGuard } from '../auth/app-auth.guard';
import { UseJPushFamily } from '../auth/jpush-family';
import type { AppRequest } from '../auth/request-context';
import { idempotencyKey } from '../push/idempotency';
import { ScheduleErrorsInterceptor } from './schedule-errors.interceptor';
import { ScheduleService, toView } from './schedule.service';

/** The secret of the request's Basic credentials (the guard verified it): signs the push's callbacks. */
function masterSecretOf(req: AppRequest): string | undefined {
  const decoded = Buffer.from((req.headers.authorization ?? '').replace(/^Basic\s+/i, ''), 'base64').toString(
    'utf8',
  );
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

/**
 * JPush's Schedule API (`rest_api_push_schedule.md`), 8xxx error codes. Trigger times are read in the
 * app's time zone, or with `push.options.local_time` in each device's.
 */
@ApiTags('jpush-schedule')
@ApiBasicAuth('app')
@Controller('v3/schedules')
@UseGuards(AppAuthGuard)
@UseJPushFamily('schedule')
@UseInterceptors(ScheduleErrorsInterceptor)
export class ScheduleController {
  constructor(private readonly schedules: ScheduleService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({ summary: 'Create a schedule: {schedule_id, name}' })
  async create(@Req() req: AppRequest, @Body() body: unknown, @Headers('idempotency-key') key?: string) {
    const app = req.heraldApp;
    const idempotency = idempotencyKey(key);
    const parsed = parseScheduleBody(body, { appKey: app.appKey, mode: 'create' });
    return this.schedules.create(
      app,
      { name: parsed.name!, trigger: parsed.trigger!, push: parsed.push!, cid: parsed.cid },
      { masterSecret: masterSecretOf(req), idempotencyKey: idempotency },
    );
  }

  @Get()
  @ApiOperation({ summary: 'Schedules in force, 50 a page, oldest first' })
  async list(@Req() req: AppRequest, @Query('page') page?: string) {
    const n = page === undefined || page === '' ? 1 : Number(page);
    if (!Number.isInteger(n) || n < 1 || n > 1_000_000)
      throw scheduleInvalid('page must be a whole number from 1');
    return this.schedules.list(req.heraldApp, n);
  }

  @Get(':id/msg_ids')
  @ApiOperation({ summary: 'The msg_ids a schedule produced: {count, msgids}' })
  async msgIds(@Req() req: AppRequest, @Param('id') id: string) {
    const ids = await this.schedules.messageIds(req.heraldApp, id);
    return { count: ids.length, msgids: ids };
  }

  @Get(':id')
  @ApiOperation({ summary: 'One schedule: {schedule_id, name, enabled, trigger, push}' })
  async get(@Req() req: AppRequest, @Param('id') id: string) {
    return toView(await this.schedules.find(req.heraldApp, id, 'api'));
  }

  @Put(':id')
  @HttpCode(200)
  @ApiOperation({ summary: 'Replace any of name, enabled, trigger, push (each whole)' })
  async update(@Req() req: AppRequest, @Param('id') id: string, @Body() body: unknown) {
    const app = req.heraldApp;
    const changes = parseScheduleBody(body, { appKey: app.appKey, mode: 'update' });
    const row = await this.schedules.update(app, id, changes, { masterSecret: masterSecretOf(req) });
    return toView(row);
  }

  @Delete(':id')
  @HttpCode(200)
  @ApiOperation({ summary: 'Delete a schedule; nothing fires after' })
  async remove(@Req() req: AppRequest, @Param('id') id: string) {
    await this.schedules.remove(req.heraldApp, id);
    return {};
  }
}
