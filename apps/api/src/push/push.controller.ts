import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  Post,
  Query,
  Req,
  UseGuards,
} from '@nestjs/common';
import { ApiBasicAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { HeraldError } from '@herald/common';
import { assertPayloadsFit, parseBatchSingle, parsePushRequest, type BatchEntry } from '@herald/push';
import { AppAuthGuard } from '../auth/app-auth.guard';
import { UseJPushFamily } from '../auth/jpush-family';
import type { AppRequest } from '../auth/request-context';
import { idempotencyKey } from './idempotency';
import { PushService, type PushResult } from './push.service';

const MSG_ID = /^[1-9][0-9]{0,15}$/;

/** The secret of the request's Basic credentials (the guard verified it). */
function masterSecretOf(req: AppRequest): string | undefined {
  const header = req.headers.authorization ?? '';
  const decoded = Buffer.from(header.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

/** JPush's push API (`rest_api_v3_push.md`): push, validate, cid, batch, recall. */
@ApiTags('jpush-push')
@ApiBasicAuth('app')
@Controller('v3/push')
@UseGuards(AppAuthGuard)
@UseJPushFamily('push')
export class PushController {
  constructor(private readonly push: PushService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({ summary: 'Push: answers {sendno, msg_id} once the message is durably stored' })
  async send(
    @Req() req: AppRequest,
    @Body() body: unknown,
    @Headers('idempotency-key') key?: string,
  ): Promise<PushResult> {
    const spec = parsePushRequest(body, { appKey: req.heraldApp.appKey });
    assertPayloadsFit(spec);
    return this.push.accept(req.heraldApp, spec, {
      idempotencyKey: idempotencyKey(key),
      masterSecret: masterSecretOf(req),
      correlationId: typeof req.id === 'string' ? req.id : undefined,
    });
  }

  @Post('validate')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Full validation without sending; audience size, per-channel counts and payload sizes',
  })
  async validate(@Req() req: AppRequest, @Body() body: unknown) {
    const spec = parsePushRequest(body, { appKey: req.heraldApp.appKey });
    assertPayloadsFit(spec);
    return this.push.validate(req.heraldApp, spec);
  }

  @Get('cid')
  @ApiOperation({ summary: 'Idempotency ids {appKey}-{uuid}, valid one day' })
  async cid(@Req() req: AppRequest, @Query('count') count?: string, @Query('type') type?: string) {
    const n = count === undefined || count === '' ? 1 : Number(count);
    if (!Number.isInteger(n) || n < 1 || n > 1000) {
      throw new HeraldError('invalid_parameter', 'count must be a whole number from 1 to 1000', {
        jpushCode: 1003,
      });
    }
    const kind = type === undefined || type === '' ? 'push' : type;
    if (kind !== 'push' && kind !== 'schedule') {
      throw new HeraldError('invalid_parameter', 'type must be push or schedule', { jpushCode: 1003 });
    }
    return { cidlist: await this.push.issueCids(req.heraldApp, n) };
  }

  @Post('batch/regid/single')
  @HttpCode(200)
  @ApiOperation({ summary: 'Up to 1000 pushes, each to one registration id' })
  batchRegid(@Req() req: AppRequest, @Body() body: unknown, @Headers('idempotency-key') key?: string) {
    return this.batch(req, body, 'registration_id', key);
  }

  @Post('batch/alias/single')
  @HttpCode(200)
  @ApiOperation({ summary: 'Up to 1000 pushes, each to one alias' })
  batchAlias(@Req() req: AppRequest, @Body() body: unknown, @Headers('idempotency-key') key?: string) {
    return this.batch(req, body, 'alias', key);
  }

  @Delete(':msgId')
  @HttpCode(200)
  @ApiOperation({ summary: 'Recall: stop the fan-out and remove undelivered gateway copies' })
  async recall(@Req() req: AppRequest, @Param('msgId') msgId: string) {
    if (!MSG_ID.test(msgId)) {
      throw new HeraldError('invalid_parameter', 'msg_id must be a decimal message id', { jpushCode: 1003 });
    }
    await this.push.recall(req.heraldApp, msgId);
    return {};
  }

  /**
   * Each entry is its own push with its own cid; one bad entry answers its own error (JPush). An
   * `Idempotency-Key` covers the whole batch: the same key and body return the first answer.
   */
  private async batch(req: AppRequest, body: unknown, kind: 'registration_id' | 'alias', header?: string) {
    const key = idempotencyKey(header);
    const entries = parseBatchSingle(body, kind, { appKey: req.heraldApp.appKey });
    const run = () => this.runBatch(req, entries);
    if (key === undefined) return run();
    const route = kind === 'alias' ? 'batch/alias' : 'batch/regid';
    return this.push.onceByKey(req.heraldApp, route, key, entries, run);
  }

  private async runBatch(req: AppRequest, entries: BatchEntry[]) {
    const secret = masterSecretOf(req);
    const out: Record<string, PushResult | { error: { code: number; message: string } }> = {};
    for (const entry of entries) {
      if ('error' in entry) {
        out[entry.cid] = { error: entry.error };
        continue;
      }
      try {
        assertPayloadsFit(entry.spec);
        out[entry.cid] = await this.push.accept(req.heraldApp, entry.spec, {
          masterSecret: secret,
          source: 'batch',
        });
      } catch (err) {
        if (!(err instanceof HeraldError) || err.status >= 500) throw err;
        out[entry.cid] = { error: { code: err.jpushCode, message: err.message } };
      }
    }
    return out;
  }
}
