import { Controller, Get, Query, Req, UseGuards } from '@nestjs/common';
import { ApiBasicAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { HeraldError } from '@herald/common';
import { AppAuthGuard } from '../auth/app-auth.guard';
import { UseJPushFamily } from '../auth/jpush-family';
import type { AppRequest } from '../auth/request-context';
import { FeedbackService, MAX_FEEDBACK_LIMIT, type FeedbackPage } from './feedback.service';

const DEFAULT_LIMIT = 100;
const isoTime = z.union([z.iso.datetime({ offset: true }), z.iso.date()]);

/**
 * `GET /v3/feedback`: tokens that token hygiene invalidated, quarantined or restored, oldest first,
 * cursor-paginated (api.md §1). `since` starts a walk; `cursor` (from `next_cursor`) continues it.
 */
@ApiTags('feedback')
@ApiBasicAuth('app')
@Controller('v3')
@UseGuards(AppAuthGuard)
@UseJPushFamily('push')
export class FeedbackController {
  constructor(private readonly feedback: FeedbackService) {}

  @Get('feedback')
  @ApiOperation({ summary: 'Invalidated, quarantined and restored tokens since a time (cursor-paginated)' })
  @ApiQuery({
    name: 'since',
    required: false,
    description: 'ISO-8601 time; required unless `cursor` is given',
  })
  @ApiQuery({ name: 'cursor', required: false, description: '`next_cursor` of the previous page' })
  @ApiQuery({
    name: 'limit',
    required: false,
    description: `1–${MAX_FEEDBACK_LIMIT}, default ${DEFAULT_LIMIT}`,
  })
  async list(
    @Req() req: AppRequest,
    @Query('since') since?: unknown,
    @Query('cursor') cursor?: unknown,
    @Query('limit') limit?: unknown,
  ): Promise<FeedbackPage> {
    const blank = (v: unknown) => v === undefined || v === '';
    if (blank(since) && blank(cursor)) {
      throw new HeraldError('missing_parameter', 'since: an ISO-8601 time is required (or a cursor)');
    }
    let sinceDate: Date | undefined;
    if (!blank(since)) {
      if (typeof since !== 'string' || !isoTime.safeParse(since).success) {
        throw new HeraldError(
          'invalid_parameter',
          'since: must be an ISO-8601 time, e.g. 2025-01-31T00:00:00Z',
        );
      }
      sinceDate = new Date(since);
    }
    if (!blank(cursor) && typeof cursor !== 'string') {
      throw new HeraldError('invalid_parameter', 'cursor: give it once');
    }
    let pageSize = DEFAULT_LIMIT;
    if (!blank(limit)) {
      pageSize = typeof limit === 'string' && /^\d{1,4}$/.test(limit) ? Number(limit) : 0;
      if (pageSize < 1 || pageSize > MAX_FEEDBACK_LIMIT) {
        throw new HeraldError(
          'invalid_parameter',
          `limit: must be a whole number from 1 to ${MAX_FEEDBACK_LIMIT}`,
        );
      }
    }
    return this.feedback.list(req.heraldApp.id, {
      ...(sinceDate && { since: sinceDate }),
      ...(typeof cursor === 'string' && cursor !== '' && { cursor }),
      limit: pageSize,
    });
  }
}
