import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Request } from 'express';
import type { DataSource } from 'typeorm';
import { HeraldError } from '@herald/common';
import type { AppEntity } from '@herald/db';
import { PushService } from '../push/push.service';
import { actorOf, AuditService } from './audit.service';
import type { DashboardPrincipal } from './auth/dashboard-request';
import { decodeCursor, iso, notFound, pageOf } from './dashboard.http';

const MSG_ID = /^[1-9][0-9]{0,15}$/;
/** How far back a day's receipts may point: messages live at most this long (JPush's TTL cap). */
const MAX_TTL_DAYS = 10;

/** The longest suffix a device search matches by (see `devices`). */
const TOKEN_SUFFIX_MAX = 8;
export const MAX_STATS_DAYS = 92;

export interface MessageFilter {
  limit: number;
  cursor?: string;
  status?: string[];
  source?: string;
  from?: string;
  to?: string;
}

export interface DeviceFilter {
  limit: number;
  cursor?: string;
  registration_id?: string;
  alias?: string;
  tag?: string;
  token_suffix?: string;
  status?: string;
  channel?: string;
}

interface Totals {
  targets: number;
  sent: number;
  failed: number;
  delivered: number;
  clicked: number;
  dismissed: number;
}

interface MessageRow {
  id: string;
  sendno: string;
  source: string;
  status: string;
  platforms: string[];
  cid: string | null;
  shards_total: number | null;
  shards_done: number;
  error: string | null;
  created_at: Date;
  ck: string;
  started_at: Date | null;
  completed_at: Date | null;
  cancelled_at: Date | null;
  targets: string;
  sent: string;
  failed: string;
  delivered: string;
  clicked: string;
  dismissed: string;
}

/**
 * Progress as a whole percentage: shards done of shards planned while sending (a shard is the unit of
 * fan-out, so this is what the pipeline can honestly report); 0 before planning, 100 once completed.
 */
export function progressOf(status: string, total: number | null, done: number): number {
  if (status === 'completed') return 100;
  if (!total) return 0;
  return Math.min(100, Math.floor((done * 100) / total));
}

const totalsOf = (r: Omit<Totals, never> | Record<keyof Totals, string>): Totals => ({
  targets: Number(r.targets),
  sent: Number(r.sent),
  failed: Number(r.failed),
  delivered: Number(r.delivered),
  clicked: Number(r.clicked),
  dismissed: Number(r.dismissed),
});

const toMessage = (r: MessageRow) => ({
  msg_id: r.id,
  sendno: r.sendno,
  source: r.source,
  status: r.status,
  platforms: r.platforms,
  cid: r.cid,
  progress: progressOf(r.status, r.shards_total, r.shards_done),
  totals: totalsOf(r),
  error: r.error,
  created_at: iso(r.created_at),
  started_at: iso(r.started_at),
  completed_at: iso(r.completed_at),
  cancelled_at: iso(r.cancelled_at),
});

const MESSAGE_SELECT = `
  SELECT m.id::text AS id, m.sendno, m.source, m.status, m.platforms, m.cid, m.shards_total, m.shards_done,
         m.error, m.created_at, m.created_at::text AS ck, m.started_at, m.completed_at, m.cancelled_at,
         COALESCE(c.targets, 0) AS targets, COALESCE(c.sent, 0) AS sent, COALESCE(c.failed, 0) AS failed,
         COALESCE(c.delivered, 0) AS delivered, COALESCE(c.clicked, 0) AS clicked,
         COALESCE(c.dismissed, 0) AS dismissed
    FROM messages m
    LEFT JOIN LATERAL (
      SELECT sum(targets) AS targets, sum(sent) AS sent, sum(failed) AS failed, sum(delivered) AS delivered,
             sum(clicked) AS clicked, sum(dismissed) AS dismissed
        FROM message_counters WHERE message_id = m.id
    ) c ON true`;

interface DeviceRow {
  id: string;
  registration_id: string;
  platform: string;
  channel: string;
  token_suffix: string | null;
  apns_environment: string | null;
  alias: string | null;
  tags: string[];
  status: string;
  status_reason: string | null;
  language: string | null;
  country: string | null;
  province: string | null;
  city: string | null;
  timezone: string | null;
  app_version: string | null;
  os_version: string | null;
  device_model: string | null;
  last_seen_at: Date | null;
  created_at: Date;
}

/** Devices are shown with the last six characters of their token: enough to recognise, never the token. */
const DEVICE_SELECT = `
  SELECT d.id::text AS id, d.registration_id, d.platform, d.channel,
         CASE WHEN d.token IS NOT NULL THEN right(d.token, 6) END AS token_suffix,
         d.apns_environment, d.alias, d.tags, d.status, d.status_reason, d.language, d.country, d.province,
         d.city, d.timezone, d.app_version, d.os_version, d.device_model, d.last_seen_at, d.created_at
    FROM devices d`;

const toDevice = (r: DeviceRow) => ({
  registration_id: r.registration_id,
  platform: r.platform,
  channel: r.channel,
  token_suffix: r.token_suffix,
  apns_environment: r.apns_environment,
  alias: r.alias,
  tags: r.tags,
  status: r.status,
  status_reason: r.status_reason,
  language: r.language,
  country: r.country,
  province: r.province,
  city: r.city,
  timezone: r.timezone,
  app_version: r.app_version,
  os_version: r.os_version,
  device_model: r.device_model,
  last_seen_at: iso(r.last_seen_at),
  created_at: iso(r.created_at),
});

const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** An app's messages, devices and daily statistics: read models over the pipeline's tables. */
@Injectable()
export class AppDataService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly audit: AuditService,
    private readonly push: PushService,
  ) {}

  async messages(app: AppEntity, q: MessageFilter) {
    const after = decodeCursor(q.cursor, 2);
    const rows = await this.db.query<MessageRow[]>(
      `${MESSAGE_SELECT}
        WHERE m.app_id = $1 AND ($2::text[] IS NULL OR m.status = ANY($2::text[]))
          AND ($3::text IS NULL OR m.source = $3) AND ($4::timestamptz IS NULL OR m.created_at >= $4)
          AND ($5::timestamptz IS NULL OR m.created_at < $5)
          AND ($6::timestamptz IS NULL OR (m.created_at, m.id) < ($6::timestamptz, $7::bigint))
        ORDER BY m.created_at DESC, m.id DESC LIMIT $8`,
      [
        app.id,
        q.status ?? null,
        q.source ?? null,
        q.from ?? null,
        q.to ?? null,
        after?.[0] ?? null,
        after?.[1] ?? null,
        q.limit + 1,
      ],
    );
    return pageOf(rows, q.limit, toMessage, (r) => [r.ck, r.id]);
  }

  /** One message: its request, totals, per-channel counters and failures by channel and reason. */
  async message(app: AppEntity, msgId: string) {
    if (!MSG_ID.test(msgId)) throw notFound('message', msgId);
    const [row] = await this.db.query<(MessageRow & { request: Record<string, unknown> })[]>(
      `${MESSAGE_SELECT.replace('m.cancelled_at,', 'm.cancelled_at, m.request,')} WHERE m.id = $1 AND m.app_id = $2`,
      [msgId, app.id],
    );
    if (!row) throw notFound('message', msgId);
    const channels = await this.db.query<(Record<keyof Totals, string> & { channel: string })[]>(
      `SELECT channel, targets, sent, failed, delivered, clicked, dismissed FROM message_counters
        WHERE message_id = $1 ORDER BY channel`,
      [msgId],
    );
    const failures = await this.db.query<{ channel: string; reason: string; count: string }[]>(
      `SELECT channel, reason, count FROM message_failures WHERE message_id = $1 ORDER BY count DESC, channel, reason`,
      [msgId],
    );
    const request = { ...row.request };
    // The stored callback carries an encrypted signing key: not ours to show, even encrypted.
    if (request.callback && typeof request.callback === 'object') {
      const { signing_key: _omit, ...callback } = request.callback as Record<string, unknown>;
      void _omit;
      request.callback = callback;
    }
    return {
      ...toMessage(row),
      request,
      by_channel: Object.fromEntries(channels.map((c) => [c.channel, totalsOf(c)])),
      failures: failures.map((f) => ({ channel: f.channel, reason: f.reason, count: Number(f.count) })),
      shards: { total: row.shards_total, done: row.shards_done },
    };
  }

  /** The same as `DELETE /v3/push/{msg_id}`: stop sending and withdraw undelivered gateway copies. */
  async cancel(req: Request, p: DashboardPrincipal, app: AppEntity, msgId: string) {
    if (!MSG_ID.test(msgId)) throw notFound('message', msgId);
    const [row] = await this.db.query<{ status: string }[]>(
      `SELECT status FROM messages WHERE id = $1 AND app_id = $2`,
      [msgId, app.id],
    );
    if (!row) throw notFound('message', msgId);
    if (row.status === 'completed' || row.status === 'failed') {
      throw new HeraldError('conflict', `message is ${row.status}: there is nothing left to cancel`);
    }
    await this.push.recall(app, msgId);
    await this.audit.record(req, actorOf(p), {
      action: 'message.cancel',
      appId: app.id,
      targetType: 'message',
      targetId: msgId,
      details: { previous_status: row.status },
    });
    return this.message(app, msgId);
  }

  async devices(app: AppEntity, q: DeviceFilter) {
    const after = decodeCursor(q.cursor, 1);
    // Up to 8 characters, the tokens that end with them; longer, the whole token only. The API shows
    // the last six, so a longer suffix search would let a viewer grow it into the whole token one
    // guessed character at a time.
    const search = q.token_suffix;
    const suffix = search !== undefined && search.length <= TOKEN_SUFFIX_MAX ? likeEscape(search) : null;
    const whole = search !== undefined && search.length > TOKEN_SUFFIX_MAX ? search : null;
    const rows = await this.db.query<DeviceRow[]>(
      `${DEVICE_SELECT}
        WHERE d.app_id = $1 AND ($2::text IS NULL OR d.registration_id = $2)
          AND ($3::text IS NULL OR d.alias = $3) AND ($4::text IS NULL OR d.tags @> ARRAY[$4::text])
          AND ($5::text IS NULL OR d.token LIKE '%' || $5 ESCAPE '\\') AND ($10::text IS NULL OR d.token = $10)
          AND ($6::text IS NULL OR d.status = $6) AND ($7::text IS NULL OR d.channel = $7)
          AND ($8::bigint IS NULL OR d.id < $8::bigint)
        ORDER BY d.id DESC LIMIT $9`,
      [
        app.id,
        q.registration_id ?? null,
        q.alias ?? null,
        q.tag ?? null,
        suffix,
        q.status ?? null,
        q.channel ?? null,
        after?.[0] ?? null,
        q.limit + 1,
        whole,
      ],
    );
    return pageOf(rows, q.limit, toDevice, (r) => [r.id]);
  }

  async device(app: AppEntity, rid: string) {
    const [row] = await this.db.query<DeviceRow[]>(
      `${DEVICE_SELECT} WHERE d.app_id = $1 AND d.registration_id = $2`,
      [app.id, rid],
    );
    if (!row) throw notFound('device', rid);
    return toDevice(row);
  }

  /** A device's ledger, newest first: what happened to each message sent to it and why. */
  async deviceDeliveries(app: AppEntity, rid: string, q: { limit: number; cursor?: string }) {
    const [device] = await this.db.query<{ id: string }[]>(
      `SELECT id::text AS id FROM devices WHERE app_id = $1 AND registration_id = $2`,
      [app.id, rid],
    );
    if (!device) throw notFound('device', rid);
    const after = decodeCursor(q.cursor, 2);
    const rows = await this.db.query<
      {
        message_id: string;
        channel: string;
        state: string;
        reason: string | null;
        provider_status: number | null;
        attempts: number;
        sent_at: Date | null;
        delivered_at: Date | null;
        clicked_at: Date | null;
        dismissed_at: Date | null;
        created_at: Date;
        ck: string;
      }[]
    >(
      `SELECT dl.message_id::text AS message_id, dl.channel, dl.state, dl.reason, dl.provider_status, dl.attempts,
              dl.sent_at, dl.delivered_at, dl.clicked_at, dl.dismissed_at, dl.created_at, dl.created_at::text AS ck
         FROM deliveries dl
        WHERE dl.device_id = $1 AND dl.app_id = $2
          AND ($3::timestamptz IS NULL OR (dl.created_at, dl.message_id) < ($3::timestamptz, $4::bigint))
        ORDER BY dl.created_at DESC, dl.message_id DESC LIMIT $5`,
      [device.id, app.id, after?.[0] ?? null, after?.[1] ?? null, q.limit + 1],
    );
    return pageOf(
      rows,
      q.limit,
      (r) => ({
        msg_id: r.message_id,
        channel: r.channel,
        state: r.state,
        reason: r.reason,
        provider_status: r.provider_status,
        attempts: r.attempts,
        sent_at: iso(r.sent_at),
        delivered_at: iso(r.delivered_at),
        clicked_at: iso(r.clicked_at),
        dismissed_at: iso(r.dismissed_at),
        created_at: iso(r.created_at),
      }),
      (r) => [r.ck, r.message_id],
    );
  }

  /**
   * Daily statistics in the app's time zone, one item per day of [from, to] (the range is the page:
   * at most 92 days). sent/failed/delivered/clicked are the counters of the messages created that
   * day; new devices registered that day; active devices showed a sign of life that day (registering,
   * last contact, a token refresh, or a delivered/opened/dismissed receipt) — the same definition as
   * `GET /v3/users`.
   */
  async daily(app: AppEntity, q: { from?: string; to?: string }) {
    const [{ today }] = await this.db.query<{ today: string }[]>(
      `SELECT to_char((now() AT TIME ZONE $1)::date, 'YYYY-MM-DD') AS today`,
      [app.timezone],
    );
    const to = q.to ?? today;
    const from =
      q.from ?? new Date(Date.parse(`${to}T00:00:00Z`) - 29 * 86_400_000).toISOString().slice(0, 10);
    const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000 + 1;
    if (!(days >= 1)) throw new HeraldError('invalid_parameter', 'from: must not be after to');
    if (days > MAX_STATS_DAYS)
      throw new HeraldError('invalid_parameter', `at most ${MAX_STATS_DAYS} days per request`);
    const rows = await this.db.query<
      {
        day: string;
        messages: string;
        targets: string;
        sent: string;
        failed: string;
        delivered: string;
        clicked: string;
        new_devices: string;
        active_devices: string;
      }[]
    >(
      `WITH days AS (
         SELECT d::date AS day, d AT TIME ZONE $2 AS lo, (d + interval '1 day') AT TIME ZONE $2 AS hi
           FROM generate_series($3::date::timestamp, $4::date::timestamp, interval '1 day') AS d
       ), span AS (
         SELECT min(lo) AS lo, max(hi) AS hi FROM days
       ), msg AS (
         SELECT (m.created_at AT TIME ZONE $2)::date AS day, count(*) AS messages,
                sum(c.targets) AS targets, sum(c.sent) AS sent, sum(c.failed) AS failed,
                sum(c.delivered) AS delivered, sum(c.clicked) AS clicked
           FROM span
           JOIN messages m ON m.app_id = $1 AND m.created_at >= span.lo AND m.created_at < span.hi
           LEFT JOIN LATERAL (
             SELECT sum(targets) AS targets, sum(sent) AS sent, sum(failed) AS failed,
                    sum(delivered) AS delivered, sum(clicked) AS clicked
               FROM message_counters WHERE message_id = m.id
           ) c ON true
          GROUP BY 1
       ), fresh AS (
         SELECT (d.created_at AT TIME ZONE $2)::date AS day, count(*) AS n
           FROM span JOIN devices d ON d.app_id = $1 AND d.created_at >= span.lo AND d.created_at < span.hi
          GROUP BY 1
       ), signs AS (
         SELECT d.id, t.at
           FROM span JOIN devices d ON d.app_id = $1
           CROSS JOIN LATERAL (VALUES (d.created_at), (d.last_seen_at), (d.token_updated_at)) AS t(at)
          WHERE t.at >= span.lo AND t.at < span.hi
         UNION ALL
         SELECT dl.device_id, t.at
           FROM span
           JOIN messages m ON m.app_id = $1 AND m.created_at >= span.lo - interval '${MAX_TTL_DAYS} days'
                          AND m.created_at < span.hi
           JOIN deliveries dl ON dl.message_id = m.id
           CROSS JOIN LATERAL (VALUES (dl.delivered_at), (dl.clicked_at), (dl.dismissed_at)) AS t(at)
          WHERE t.at >= span.lo AND t.at < span.hi
       ), active AS (
         SELECT (at AT TIME ZONE $2)::date AS day, count(DISTINCT id) AS n FROM signs GROUP BY 1
       )
       SELECT to_char(days.day, 'YYYY-MM-DD') AS day, COALESCE(msg.messages, 0) AS messages,
              COALESCE(msg.targets, 0) AS targets, COALESCE(msg.sent, 0) AS sent,
              COALESCE(msg.failed, 0) AS failed, COALESCE(msg.delivered, 0) AS delivered,
              COALESCE(msg.clicked, 0) AS clicked, COALESCE(fresh.n, 0) AS new_devices,
              COALESCE(active.n, 0) AS active_devices
         FROM days
         LEFT JOIN msg ON msg.day = days.day
         LEFT JOIN fresh ON fresh.day = days.day
         LEFT JOIN active ON active.day = days.day
        ORDER BY days.day`,
      [app.id, app.timezone, from, to],
    );
    return {
      timezone: app.timezone,
      from,
      to,
      items: rows.map((r) => ({
        date: r.day,
        messages: Number(r.messages),
        targets: Number(r.targets),
        sent: Number(r.sent),
        failed: Number(r.failed),
        delivered: Number(r.delivered),
        clicked: Number(r.clicked),
        new_devices: Number(r.new_devices),
        active_devices: Number(r.active_devices),
      })),
    };
  }
}
