import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import { HeraldError } from '@herald/common';
import type { AppEntity } from '@herald/db';

/** JPush: at most 100 msg_ids per report call, 1000 registration ids per status call. */
export const MAX_MSG_IDS = 100;
export const MAX_STATUS_RIDS = 1000;
/** JPush keeps user statistics for 60 days. */
const USERS_WINDOW_DAYS = 60;
/** Gateway and SDK receipts arrive at most `time_to_live` (≤ 10 days) after the push. */
const MAX_TTL_DAYS = 10;

type Channel = 'apns' | 'fcm' | 'gateway';
const CHANNELS: readonly Channel[] = ['apns', 'fcm', 'gateway'];

export interface ChannelCounters {
  targets: number;
  sent: number;
  failed: number;
  delivered: number;
  clicked: number;
  dismissed: number;
}

/** A message's counters by channel; a channel the fan-out never used has no entry ("no data"). */
type MessageCounters = Partial<Record<Channel, ChannelCounters>>;

/** JPush answers "no data" with null; a channel Herald used answers its number. */
function pick(c: ChannelCounters | undefined, k: keyof ChannelCounters): number | null {
  return c ? c[k] : null;
}

/** The sum over channels that have data; null when none has. */
function sum(values: (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null);
  return present.length === 0 ? null : present.reduce((a, b) => a + b, 0);
}

function missing(message: string): HeraldError {
  return new HeraldError('missing_parameter', message);
}

function invalid(message: string, jpushCode = 1003): HeraldError {
  return new HeraldError('invalid_parameter', message, { jpushCode });
}

/**
 * `msg_ids=1,2,3` (JPush's clients also send it as a number, or repeated): the distinct ids in
 * order. Ids are digits; one that cannot be a Herald message (0, ≥ 2^53) simply has no data.
 */
export function parseMsgIds(raw: unknown): string[] {
  const parts = (Array.isArray(raw) ? raw : [raw])
    .filter((v): v is string | number => typeof v === 'string' || typeof v === 'number')
    .flatMap((v) => String(v).split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
  if (parts.length === 0) throw missing('msg_ids is required: msg_id values separated by commas');
  const bad = parts.find((p) => !/^\d{1,20}$/.test(p));
  if (bad !== undefined) throw invalid(`msg_ids: ${bad.slice(0, 32)} is not a msg_id`);
  const ids = [...new Set(parts)];
  if (ids.length > MAX_MSG_IDS) throw invalid(`msg_ids: at most ${MAX_MSG_IDS} msg_ids per call`);
  return ids;
}

const storable = (id: string) => /^[1-9][0-9]{0,15}$/.test(id) && Number(id) <= Number.MAX_SAFE_INTEGER;

/**
 * A field whose absence is "missing" (1002) and any other problem "invalid" (1003), told apart here:
 * zod 4 leaves `input` out of its issues, so a wrong type would otherwise read as a missing field.
 */
function field<T extends z.ZodType>(inner: T, optional = false) {
  return z.unknown().transform((v, ctx): z.infer<T> | undefined => {
    if (v === undefined || v === null) {
      if (optional) return undefined;
      ctx.addIssue({ code: 'custom', message: 'is required', params: { missing: true } });
      return z.NEVER;
    }
    const r = inner.safeParse(v);
    if (r.success) return r.data;
    ctx.addIssue({ code: 'custom', message: r.error.issues[0].message });
    return z.NEVER;
  });
}

export const statusSchema = z.object({
  // JPush's clients send a number (a string above 2^53).
  msg_id: field(
    z.union([
      z.string().regex(/^\d{1,16}$/, 'not a msg_id'),
      z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    ]),
  ).transform((v) => String(v)),
  registration_ids: field(z.array(z.string().min(1).max(128)).min(1).max(MAX_STATUS_RIDS)).transform(
    (v) => v as string[],
  ),
  date: field(
    z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'yyyy-mm-dd')
      .refine((d) => isCalendarDate(d), 'not a calendar date'),
    true,
  ).optional(),
});
export type StatusInput = z.infer<typeof statusSchema>;

function isCalendarDate(d: string): boolean {
  const t = new Date(`${d}T00:00:00Z`);
  return !Number.isNaN(t.getTime()) && t.toISOString().slice(0, 10) === d;
}

export type TimeUnit = 'HOUR' | 'DAY' | 'MONTH';
const UNIT_FORMAT: Record<TimeUnit, { re: RegExp; pg: string; interval: string; max: number }> = {
  HOUR: { re: /^(\d{4}-\d{2}-\d{2}) (\d{2})$/, pg: 'YYYY-MM-DD HH24', interval: '1 hour', max: 24 },
  DAY: { re: /^(\d{4}-\d{2}-\d{2})$/, pg: 'YYYY-MM-DD', interval: '1 day', max: USERS_WINDOW_DAYS },
  MONTH: { re: /^(\d{4}-\d{2})$/, pg: 'YYYY-MM', interval: '1 month', max: 3 },
};

export interface UsersItem {
  time: string;
  [platform: string]: string | { new?: number; active?: number };
}

export interface LedgerRow {
  msg_id: string;
  registration_id: string;
  channel: Channel;
  state: string;
  reason: string | null;
  provider_message_id: string | null;
  provider_status: number | null;
  attempts: number;
  sent_at: string | null;
  delivered_at: string | null;
  clicked_at: string | null;
  dismissed_at: string | null;
  created_at: string;
  updated_at: string;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/**
 * JPush's report API over Herald's counters and ledger. Every query is scoped by the app: another
 * app's msg_id reads exactly like an unknown one (no data), never its numbers.
 *
 * Channel mapping (api.md §1): the gateway is JPush's own channel (`jpush_*`, `jpush.*`, and the
 * Android figures of the old APIs together with FCM), FCM is the Android vendor channel
 * (`android_pns_*`), APNs is `ios_apns_*` / `ios.apns_*`. Herald has no source for iOS custom
 * messages over JPush's connection, WinPhone, quick apps, HarmonyOS or live activities: those answer
 * null, as JPush does for "no data". Other vendors (Xiaomi, Huawei, …) were never targeted: 0.
 */
@Injectable()
export class ReportService {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async counters(app: AppEntity, ids: string[]): Promise<Map<string, MessageCounters>> {
    const wanted = ids.filter(storable);
    const out = new Map<string, MessageCounters>(ids.map((id) => [id, {}]));
    if (wanted.length === 0) return out;
    const rows: ({ message_id: string; channel: Channel } & Record<keyof ChannelCounters, string>)[] =
      await this.db.query(
        `SELECT c.message_id, c.channel, c.targets, c.sent, c.failed, c.delivered, c.clicked, c.dismissed
           FROM message_counters c
           JOIN messages m ON m.id = c.message_id
          WHERE m.app_id = $1 AND m.id = ANY($2::bigint[])`,
        [app.id, wanted],
      );
    // The caller's spelling of an id is kept (a leading zero is still the same message).
    const byNumber = new Map(ids.filter(storable).map((id) => [String(Number(id)), id]));
    for (const r of rows) {
      const key = byNumber.get(String(Number(r.message_id)));
      if (key === undefined) continue;
      out.get(key)![r.channel] = {
        targets: Number(r.targets),
        sent: Number(r.sent),
        failed: Number(r.failed),
        delivered: Number(r.delivered),
        clicked: Number(r.clicked),
        dismissed: Number(r.dismissed),
      };
    }
    return out;
  }

  /** `GET /v3/received` (the old shape): Android is the gateway and FCM together. */
  async received(app: AppEntity, ids: string[]) {
    const counters = await this.counters(app, ids);
    return ids.map((id) => {
      const c = counters.get(id)!;
      return {
        msg_id: id,
        android_received: sum([pick(c.gateway, 'delivered'), pick(c.fcm, 'delivered')]),
        ios_apns_sent: pick(c.apns, 'sent'),
        ios_apns_received: pick(c.apns, 'delivered'),
        ios_msg_received: null,
        wp_mpns_sent: null,
      };
    });
  }

  /** `GET /v3/received/detail`: JPush's own channel and the Android vendor channel apart. */
  async receivedDetail(app: AppEntity, ids: string[]) {
    const counters = await this.counters(app, ids);
    return ids.map((id) => {
      const c = counters.get(id)!;
      return {
        msg_id: id,
        jpush_received: pick(c.gateway, 'delivered'),
        android_pns_sent: pick(c.fcm, 'sent'),
        android_pns_received: pick(c.fcm, 'delivered'),
        ios_apns_sent: pick(c.apns, 'sent'),
        ios_apns_received: pick(c.apns, 'delivered'),
        ios_msg_received: null,
        live_acivity_sent: null,
        live_acivity_received: null,
        wp_mpns_sent: null,
        quickapp_jpush_received: null,
        quickapp_pns_sent: null,
        hmos_hmpns_received: null,
        hmos_hmpns_sent: null,
        hmos_msg_received: null,
        hmos_msg_sent: null,
      };
    });
  }

  /** `GET /v3/messages` (the old shape). `online_push` counts what a channel accepted for delivery. */
  async messages(app: AppEntity, ids: string[]) {
    const counters = await this.counters(app, ids);
    return ids.map((id) => {
      const c = counters.get(id)!;
      const android = (k: keyof ChannelCounters) => sum([pick(c.gateway, k), pick(c.fcm, k)]);
      return {
        msg_id: id,
        android: {
          target: android('targets'),
          online_push: android('sent'),
          received: android('delivered'),
          click: android('clicked'),
          msg_click: null,
        },
        ios: {
          apns_target: pick(c.apns, 'targets'),
          apns_sent: pick(c.apns, 'sent'),
          apns_received: pick(c.apns, 'delivered'),
          click: pick(c.apns, 'clicked'),
          target: null,
          received: null,
        },
        winphone: { mpns_target: null, mpns_sent: null, click: null },
      };
    });
  }

  /**
   * `GET /v3/messages/detail`, plus Herald's own figures under `herald` (a JPush client ignores
   * them): every channel's counters with failures by reason and dismissals.
   */
  async messagesDetail(app: AppEntity, ids: string[]) {
    const counters = await this.counters(app, ids);
    const failures = await this.failures(app, ids);
    return ids.map((id) => {
      const c = counters.get(id)!;
      const vendor = (n: number | null) => ({ target: n, sent: n, received: n });
      // Vendors Herald never sends through: 0 for a message with data, null for one without.
      const untouched = Object.keys(c).length > 0 ? 0 : null;
      const herald: Partial<Record<Channel, ChannelCounters & { failures: Record<string, number> }>> = {};
      for (const ch of CHANNELS) {
        const cc = c[ch];
        if (cc) herald[ch] = { ...cc, failures: failures.get(`${id}:${ch}`) ?? {} };
      }
      return {
        msg_id: id,
        jpush: {
          target: pick(c.gateway, 'targets'),
          online_push: pick(c.gateway, 'sent'),
          received: pick(c.gateway, 'delivered'),
          click: pick(c.gateway, 'clicked'),
          msg_click: null,
        },
        android_pns: {
          pns_target: pick(c.fcm, 'targets'),
          pns_sent: pick(c.fcm, 'sent'),
          pns_received: pick(c.fcm, 'delivered'),
          xm_detail: vendor(untouched),
          hw_detail: vendor(untouched),
          mz_detail: vendor(untouched),
          oppo_detail: vendor(untouched),
          vivo_detail: vendor(untouched),
          fcm_detail: {
            target: pick(c.fcm, 'targets'),
            sent: pick(c.fcm, 'sent'),
            received: pick(c.fcm, 'delivered'),
          },
        },
        ios: {
          apns_target: pick(c.apns, 'targets'),
          apns_sent: pick(c.apns, 'sent'),
          apns_received: pick(c.apns, 'delivered'),
          apns_click: pick(c.apns, 'clicked'),
          msg_target: null,
          msg_received: null,
        },
        winphone: { mpns_target: null, mpns_sent: null, click: null },
        herald,
      };
    });
  }

  private async failures(app: AppEntity, ids: string[]): Promise<Map<string, Record<string, number>>> {
    const out = new Map<string, Record<string, number>>();
    const wanted = ids.filter(storable);
    if (wanted.length === 0) return out;
    const rows: { message_id: string; channel: Channel; reason: string; count: string }[] =
      await this.db.query(
        `SELECT f.message_id, f.channel, f.reason, f.count
         FROM message_failures f
         JOIN messages m ON m.id = f.message_id
        WHERE m.app_id = $1 AND m.id = ANY($2::bigint[]) AND f.count > 0
        ORDER BY f.reason`,
        [app.id, wanted],
      );
    const byNumber = new Map(wanted.map((id) => [String(Number(id)), id]));
    for (const r of rows) {
      const key = `${byNumber.get(String(Number(r.message_id)))}:${r.channel}`;
      const entry = out.get(key) ?? {};
      entry[r.reason] = Number(r.count);
      out.set(key, entry);
    }
    return out;
  }

  /**
   * `POST /v3/status/message`: 0 delivered, 1 not delivered, 2 not a device of this app, 3 a device of
   * this app that the message did not target. `date` reads the ledger as of the end of that day in
   * the app's time zone (a delivery recorded later is "not delivered" on that day).
   */
  async status(app: AppEntity, input: StatusInput): Promise<Record<string, { status: number }>> {
    const rows: { rid: string; device_id: string | null; targeted: boolean; delivered: boolean }[] =
      await this.db.query(
        `SELECT i.rid, d.id AS device_id, (dl.message_id IS NOT NULL) AS targeted,
                COALESCE(dl.delivered_at < CASE WHEN $4::date IS NULL THEN 'infinity'::timestamptz
                           ELSE ($4::date + 1)::timestamp AT TIME ZONE $5 END, false) AS delivered
           FROM unnest($2::text[]) AS i(rid)
           LEFT JOIN devices d ON d.registration_id = i.rid AND d.app_id = $1
           LEFT JOIN deliveries dl ON dl.device_id = d.id AND dl.message_id = $3::bigint AND dl.app_id = $1`,
        [app.id, [...new Set(input.registration_ids)], input.msg_id, input.date ?? null, app.timezone],
      );
    const out: Record<string, { status: number }> = {};
    for (const r of rows) {
      out[r.rid] = { status: r.device_id === null ? 2 : !r.targeted ? 3 : r.delivered ? 0 : 1 };
    }
    return out;
  }

  /**
   * `GET /v3/users`: per time bucket (the app's time zone) and platform, `new` = devices registered
   * in it, `active` = distinct devices that showed a sign of life in it: registering, their last
   * contact (`last_seen_at`), a token refresh, or a receipt in the ledger (a gateway ack or SDK receipt:
   * delivered, opened, dismissed) for one of the app's messages. Zero values are left out, as JPush
   * leaves out what it has no data for; `online` has no history in Herald and is never reported.
   */
  async users(app: AppEntity, query: Record<string, unknown>) {
    const unit = this.str(query, 'time_unit').toUpperCase();
    const startRaw = this.str(query, 'start');
    const durationRaw = this.str(query, 'duration');
    if (!(unit in UNIT_FORMAT)) throw invalid('time_unit must be HOUR, DAY or MONTH');
    const fmt = UNIT_FORMAT[unit as TimeUnit];
    if (!/^\d{1,4}$/.test(durationRaw) || Number(durationRaw) < 1) {
      throw invalid('duration must be a positive integer');
    }
    const duration = Number(durationRaw);
    if (duration > fmt.max) throw invalid(`duration: at most ${fmt.max} for time_unit ${unit}`, 3005);
    const m = fmt.re.exec(startRaw);
    const startDay = m ? (unit === 'MONTH' ? `${m[1]}-01` : m[1]) : '';
    const hour = unit === 'HOUR' && m ? Number(m[2]) : 0;
    if (!m || !isCalendarDate(startDay) || hour > 23) {
      throw invalid(`start does not match time_unit ${unit} (${fmt.pg.replace('HH24', 'HH')})`, 3004);
    }
    const [{ today }]: { today: string }[] = await this.db.query(
      `SELECT to_char((now() AT TIME ZONE $1)::date, 'YYYY-MM-DD') AS today`,
      [app.timezone],
    );
    const oldest = new Date(Date.parse(`${today}T00:00:00Z`) - USERS_WINDOW_DAYS * 86_400_000);
    const oldestDay = oldest.toISOString().slice(0, 10);
    const tooOld =
      unit === 'HOUR'
        ? startDay !== today
        : unit === 'MONTH'
          ? startDay < `${oldestDay.slice(0, 7)}-01`
          : startDay < oldestDay;
    if (tooOld) {
      throw invalid(
        unit === 'HOUR'
          ? 'time_unit HOUR reports the current day only'
          : `only the last ${USERS_WINDOW_DAYS} days can be queried`,
        3005,
      );
    }
    const start = `${startDay} ${String(hour).padStart(2, '0')}:00:00`;
    const rows: { bucket: string; platform: string | null; new: string; active: string }[] =
      await this.db.query(
        `WITH buckets AS (
         SELECT to_char(b, $4) AS bucket, b AT TIME ZONE $2 AS from_ts, (b + $5::interval) AT TIME ZONE $2 AS to_ts
           FROM generate_series($3::timestamp, $3::timestamp + ($6::int - 1) * $5::interval, $5::interval) AS b
          WHERE $7::text <> 'HOUR' OR b < ($3::timestamp)::date + 1
       ), span AS (
         SELECT min(from_ts) AS lo, max(to_ts) AS hi FROM buckets
       ), signs AS (
         SELECT d.id, d.platform, t.at
           FROM devices d CROSS JOIN span
           CROSS JOIN LATERAL (VALUES (d.created_at), (d.last_seen_at), (d.token_updated_at)) AS t(at)
          WHERE d.app_id = $1 AND t.at >= span.lo AND t.at < span.hi
         UNION ALL
         SELECT d.id, d.platform, t.at
           FROM span
           JOIN messages m ON m.app_id = $1 AND m.created_at >= span.lo - interval '${MAX_TTL_DAYS} days'
                          AND m.created_at < span.hi
           JOIN deliveries dl ON dl.message_id = m.id
           JOIN devices d ON d.id = dl.device_id AND d.app_id = $1
           CROSS JOIN LATERAL (VALUES (dl.delivered_at), (dl.clicked_at), (dl.dismissed_at)) AS t(at)
          WHERE t.at >= span.lo AND t.at < span.hi
       ), fresh AS (
         SELECT b.bucket, d.platform, count(*) AS n
           FROM buckets b JOIN devices d ON d.app_id = $1 AND d.created_at >= b.from_ts AND d.created_at < b.to_ts
          GROUP BY 1, 2
       ), active AS (
         SELECT b.bucket, s.platform, count(DISTINCT s.id) AS n
           FROM buckets b JOIN signs s ON s.at >= b.from_ts AND s.at < b.to_ts
          GROUP BY 1, 2
       )
       SELECT b.bucket, COALESCE(a.platform, f.platform) AS platform,
              COALESCE(f.n, 0) AS new, COALESCE(a.n, 0) AS active
         FROM buckets b
         LEFT JOIN (active a FULL JOIN fresh f ON f.bucket = a.bucket AND f.platform = a.platform)
           ON b.bucket = COALESCE(a.bucket, f.bucket)
        ORDER BY b.from_ts, 2`,
        [app.id, app.timezone, start, fmt.pg, fmt.interval, duration, unit],
      );
    const items = new Map<string, UsersItem>();
    for (const r of rows) {
      const item = items.get(r.bucket) ?? { time: r.bucket };
      items.set(r.bucket, item);
      if (r.platform === null) continue;
      const stats: { new?: number; active?: number } = {};
      if (Number(r.new) > 0) stats.new = Number(r.new);
      if (Number(r.active) > 0) stats.active = Number(r.active);
      item[r.platform] = stats;
    }
    return { time_unit: unit, start: startRaw, duration, items: [...items.values()] };
  }

  private str(query: Record<string, unknown>, key: string): string {
    const v = query[key];
    const s: unknown = Array.isArray(v) ? (v as unknown[])[0] : v;
    if (typeof s !== 'string' || s.trim() === '') throw missing(`${key} is required`);
    return s.trim();
  }

  /** Herald's ledger of one message on one device of this app, or 404. */
  async ledger(app: AppEntity, msgId: string, rid: string): Promise<LedgerRow> {
    const notFound = () =>
      new HeraldError('not_found', `no delivery of message ${msgId.slice(0, 20)} to ${rid.slice(0, 64)}`);
    if (!storable(msgId)) throw notFound();
    const rows: {
      channel: Channel;
      state: string;
      reason: string | null;
      provider_message_id: string | null;
      provider_status: number | null;
      attempts: number;
      sent_at: Date | null;
      delivered_at: Date | null;
      clicked_at: Date | null;
      dismissed_at: Date | null;
      created_at: Date;
      updated_at: Date;
    }[] = await this.db.query(
      `SELECT dl.channel, dl.state, dl.reason, dl.provider_message_id, dl.provider_status, dl.attempts,
              dl.sent_at, dl.delivered_at, dl.clicked_at, dl.dismissed_at, dl.created_at, dl.updated_at
         FROM devices d
         JOIN deliveries dl ON dl.device_id = d.id AND dl.message_id = $3::bigint AND dl.app_id = $1
        WHERE d.app_id = $1 AND d.registration_id = $2`,
      [app.id, rid, msgId],
    );
    const r = rows[0];
    if (!r) throw notFound();
    return {
      msg_id: String(Number(msgId)),
      registration_id: rid,
      channel: r.channel,
      state: r.state,
      reason: r.reason,
      provider_message_id: r.provider_message_id,
      provider_status: r.provider_status,
      attempts: r.attempts,
      sent_at: iso(r.sent_at),
      delivered_at: iso(r.delivered_at),
      clicked_at: iso(r.clicked_at),
      dismissed_at: iso(r.dismissed_at),
      created_at: r.created_at.toISOString(),
      updated_at: r.updated_at.toISOString(),
    };
  }
}
