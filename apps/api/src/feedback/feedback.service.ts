import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { HeraldError } from '@herald/common';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { EnvelopeCipher, generateToken } from '@herald/crypto';

export const MAX_FEEDBACK_LIMIT = 1000;

export interface FeedbackItem {
  registration_id: string;
  channel: string;
  token_hash: string | null;
  token_suffix: string | null;
  reason: string;
  action: 'invalidated' | 'quarantined' | 'restored';
  provider_timestamp: string | null;
  at: string;
}

export interface FeedbackPage {
  items: FeedbackItem[];
  next_cursor: string | null;
}

/** Keyset position: the event's time in microseconds since the epoch (PostgreSQL's precision) and id. */
interface Position {
  atMicros: string;
  id: string;
}

interface Row {
  id: string;
  at_us: string;
  registration_id: string;
  channel: string;
  token_hash: string | null;
  token_suffix: string | null;
  reason: string;
  action: FeedbackItem['action'];
  provider_timestamp: Date | null;
  created_at: Date;
}

/** The AAD of an app's webhook signing secret; the worker's webhook dispatcher decrypts with the same. */
const webhookSecretAad = (appId: string) => `app_webhook:${appId}`;

/**
 * Token hygiene as the developer sees it: the feedback feed (`GET /v3/feedback`) and the app's
 * `token.invalidated` webhook settings. Events the worker records as `ignored` (a race it resolved in
 * the device's favour) stay internal: the feed lists only changes of state.
 */
@Injectable()
export class FeedbackService {
  private readonly cipher: EnvelopeCipher;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(HERALD_CONFIG) config: HeraldConfig,
  ) {
    this.cipher = new EnvelopeCipher(config.crypto);
  }

  async list(appId: string, query: { since?: Date; cursor?: string; limit: number }): Promise<FeedbackPage> {
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const rows = await this.db.query<Row[]>(
      `SELECT id::text, (extract(epoch FROM created_at) * 1000000)::bigint::text AS at_us, registration_id,
              channel, token_hash, token_suffix, reason, action, provider_timestamp, created_at
         FROM feedback_events
        WHERE app_id = $1 AND action <> 'ignored'
          AND ($2::timestamptz IS NULL OR created_at >= $2)
          AND ($3::bigint IS NULL
               OR (created_at, id) > (timestamptz 'epoch' + $3::bigint * interval '1 microsecond', $4::bigint))
        ORDER BY created_at, id
        LIMIT $5`,
      [appId, query.since ?? null, after?.atMicros ?? null, after?.id ?? null, query.limit + 1],
    );
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => ({
        registration_id: r.registration_id,
        channel: r.channel,
        token_hash: r.token_hash,
        token_suffix: r.token_suffix,
        reason: r.reason,
        action: r.action,
        provider_timestamp: r.provider_timestamp ? r.provider_timestamp.toISOString() : null,
        at: r.created_at.toISOString(),
      })),
      next_cursor: rows.length > query.limit ? encodeCursor({ atMicros: last.at_us, id: last.id }) : null,
    };
  }

  /**
   * Sets (or with `null` removes) the URL that receives the app's signed `token.invalidated` webhooks,
   * and issues a new signing secret, returned once and stored envelope-encrypted. The dashboard
   * endpoint that calls this comes with the dashboard issue.
   */
  async configureWebhook(appId: string, url: string | null): Promise<{ url: string; secret: string } | null> {
    if (url === null) {
      await this.db.query(
        `UPDATE apps SET webhook_url = NULL, webhook_secret = NULL, updated_at = now() WHERE id = $1`,
        [appId],
      );
      return null;
    }
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new HeraldError('invalid_parameter', 'webhook url: must be an absolute http(s) URL');
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw new HeraldError('invalid_parameter', 'webhook url: must be an absolute http(s) URL');
    }
    const secret = generateToken('whsec');
    const [, updated]: [unknown, number] = await this.db.query(
      `UPDATE apps SET webhook_url = $2, webhook_secret = $3, updated_at = now() WHERE id = $1`,
      [appId, parsed.toString(), this.cipher.encrypt(secret, webhookSecretAad(appId))],
    );
    if (updated === 0) throw new HeraldError('not_found', 'no such app');
    return { url: parsed.toString(), secret };
  }
}

export function encodeCursor(p: Position): string {
  return Buffer.from(`${p.atMicros}:${p.id}`).toString('base64url');
}

/** A cursor is opaque to clients; anything that is not one of ours is an invalid parameter. */
export function decodeCursor(cursor: string): Position {
  const text = /^[A-Za-z0-9_-]{1,64}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const m = /^(-?\d{1,19}):([1-9]\d{0,18})$/.exec(text);
  if (!m) throw new HeraldError('invalid_parameter', 'cursor: not a cursor this API returned');
  return { atMicros: m[1], id: m[2] };
}
