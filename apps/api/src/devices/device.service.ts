import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { appVersionKey, isValidAlias, isValidTag, PLATFORMS, type Platform } from '@herald/audience';
import { HeraldError } from '@herald/common';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { generateDeviceSecret, generateRegistrationId, SecretHasher } from '@herald/crypto';
import { type AppEntity, DeviceEntity, DeviceReceiptEntity } from '@herald/db';
import { MicroBatcher } from '@herald/platform';
import {
  normaliseCity,
  normaliseCountry,
  normaliseLanguage,
  normaliseProvince,
  normaliseTimezone,
} from './device-normaliser';
import { refusedByContent } from '@herald/db';
import type { RegisterInput, UpdateInput } from './device.schemas';
import { GeoIpService } from './geoip.service';

export const MAX_TAGS_PER_DEVICE = 1000;
export const MAX_DEVICES_PER_ALIAS = 10;
/** JPush: one `POST /v3/devices/{rid}` adds or removes at most 100 tags, of at most 1000 bytes in all. */
const MAX_TAG_CHANGE = 100;
const MAX_TAG_CHANGE_BYTES = 1000;

/** The device API family's "invalid parameter" (JPush 7002); on `/sdk` the code name speaks. */
function invalid(message: string, code: 'invalid_parameter' | 'conflict' = 'invalid_parameter'): HeraldError {
  return new HeraldError(code, message, { jpushCode: 7002, ...(code === 'conflict' ? { status: 409 } : {}) });
}

function notFound(rid: string): HeraldError {
  return new HeraldError('not_found', `no device ${rid.slice(0, 64)} in this app`, { jpushCode: 7002 });
}

interface Descriptive {
  language?: string | null;
  timezone?: string | null;
  country?: string | null;
  province?: string | null;
  city?: string | null;
  appVersion?: string | null;
  appVersionKey?: string | null;
  osVersion?: string | null;
  deviceModel?: string | null;
}

export interface Registration {
  registrationId: string;
  deviceSecret: string;
  created: boolean;
}

/** One registration's column values, in the order of `UPSERT_DEVICES`'s arrays. */
type RegistrationRow = (string | null)[];
const COL = { appId: 0, secretHash: 2, channel: 4, token: 5 } as const;
const REGISTRATION_COLUMNS = 16;

interface Upserted {
  registrationId: string;
  created: boolean;
}

/**
 * The transaction-scoped advisory lock key of one (app, channel, token). Every path that gives a device
 * a token takes it before writing: an update moves a token in two statements (clear it elsewhere, set it
 * here), and without the lock a concurrent update or registration of the same token slips between them
 * and one of the two fails on `devices_token_key` (23505).
 */
const tokenLockKey = (appId: string, channel: string, token: string) =>
  `hashtextextended('token:' || ${appId}::text || ':' || ${channel} || ':' || ${token}, 0)`;

/** Locks the given tokens of one app and channel ($1, $2, $3 text[]), in key order so two lockers cannot deadlock. */
const LOCK_TOKENS = `
  SELECT count(pg_advisory_xact_lock(k))::int AS n
    FROM (SELECT DISTINCT ${tokenLockKey('$1::uuid', '$2::text', 't')} AS k
            FROM unnest($3::text[]) AS t WHERE t IS NOT NULL ORDER BY k) keys`;

/**
 * One statement for any number of registrations: one array per column, zipped by `unnest`. The
 * `token_locks` aggregate takes every row's token lock, in key order, before the first row is written
 * (the insert reads from its one row); they are held until the statement commits.
 */
const UPSERT_DEVICES = `
  WITH token_locks AS (
    SELECT count(pg_advisory_xact_lock(k)) AS n
      FROM (SELECT DISTINCT ${tokenLockKey('l.app_id', 'l.channel', 'l.token')} AS k
              FROM unnest($1::uuid[], $5::text[], $6::text[]) AS l(app_id, channel, token)
             WHERE l.token IS NOT NULL ORDER BY k) keys
  )
  INSERT INTO devices (app_id, registration_id, device_secret_hash, platform, channel, token, apns_environment,
                       language, timezone, country, province, city, app_version, app_version_key, os_version,
                       device_model, token_updated_at, last_seen_at)
  SELECT r.*, CASE WHEN r.token IS NULL THEN NULL ELSE now() END, now()
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
                $16::text[])
      AS r(app_id, registration_id, device_secret_hash, platform, channel, token, apns_environment, language,
           timezone, country, province, city, app_version, app_version_key, os_version, device_model),
         token_locks
  ON CONFLICT (app_id, channel, token) WHERE token IS NOT NULL DO UPDATE SET
    device_secret_hash = EXCLUDED.device_secret_hash,
    platform = EXCLUDED.platform,
    apns_environment = COALESCE(EXCLUDED.apns_environment, devices.apns_environment),
    language = COALESCE(EXCLUDED.language, devices.language),
    timezone = COALESCE(EXCLUDED.timezone, devices.timezone),
    country = COALESCE(EXCLUDED.country, devices.country),
    province = COALESCE(EXCLUDED.province, devices.province),
    city = COALESCE(EXCLUDED.city, devices.city),
    app_version = COALESCE(EXCLUDED.app_version, devices.app_version),
    -- The key goes with the version it was made from: a version with no key (\`2.2.0.1\`) clears the old
    -- one, as an update does, or the device would keep matching \`app_version\` filters as its old version.
    app_version_key = CASE WHEN EXCLUDED.app_version IS NOT NULL THEN EXCLUDED.app_version_key
                           ELSE devices.app_version_key END,
    os_version = COALESCE(EXCLUDED.os_version, devices.os_version),
    device_model = COALESCE(EXCLUDED.device_model, devices.device_model),
    -- A registration after a provider rejected the token proves the token is alive again.
    token_updated_at = now(),
    status_changed_at = CASE WHEN devices.status <> 'active' THEN now() ELSE devices.status_changed_at END,
    status = 'active',
    status_reason = NULL,
    last_seen_at = now(),
    updated_at = now()
  RETURNING device_secret_hash AS h, registration_id, (xmax = 0) AS created`;

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Devices as the SDK and the JPush device, tag and alias APIs see them. Every change is one
 * transaction: a rejected batch changes nothing.
 */
@Injectable()
export class DeviceService {
  private readonly hasher: SecretHasher;
  private readonly registrations = new MicroBatcher<RegistrationRow, Upserted>({
    run: (rows) => this.registerBatch(rows),
  });

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(HERALD_CONFIG) config: HeraldConfig,
    private readonly geo: GeoIpService,
  ) {
    this.hasher = new SecretHasher(config.crypto);
  }

  /**
   * Idempotent per token: the same (app, channel, token) is the same device, however many
   * registrations race (one atomic upsert). Each registration issues a new device secret — it is
   * shown once and stored hashed — and reactivates a quarantined or invalid device. Concurrent
   * registrations share one statement (`registerBatch`); each still answers only once its own row is
   * committed, with its own error if it has one.
   */
  async register(app: AppEntity, input: RegisterInput, clientIp?: string): Promise<Registration> {
    const attrs = this.describe(input, { fromIp: clientIp });
    const deviceSecret = generateDeviceSecret();
    const row: RegistrationRow = [
      app.id,
      generateRegistrationId(),
      this.hasher.hash(deviceSecret),
      input.platform,
      input.channel,
      input.token ?? null,
      input.channel === 'apns' ? (input.apns_environment ?? 'production') : null,
      attrs.language ?? null,
      attrs.timezone ?? null,
      attrs.country ?? null,
      attrs.province ?? null,
      attrs.city ?? null,
      attrs.appVersion ?? null,
      attrs.appVersionKey ?? null,
      attrs.osVersion ?? null,
      attrs.deviceModel ?? null,
    ];
    const { registrationId, created } = await this.registrations.submit(row);
    return { registrationId, deviceSecret, created };
  }

  /**
   * Upserts a batch of registrations. Rows are keyed by their new secret's hash (unique per row,
   * and written on insert and update alike). Two registrations of one token cannot share a statement
   * (an upsert may not touch a row twice), so a repeated token waits for the next round. If
   * PostgreSQL refuses a statement for its content, its rows run apart, so only the row at fault gets
   * the error; if the statement could not run at all, every row of it gets that error.
   */
  private async registerBatch(rows: RegistrationRow[]): Promise<(Upserted | Error)[]> {
    const answers = new Map<string, Upserted | Error>();
    let rest = rows;
    while (rest.length > 0) {
      const round: RegistrationRow[] = [];
      const later: RegistrationRow[] = [];
      const seen = new Set<string>();
      for (const r of rest) {
        const token = r[COL.token];
        const key = token === null ? null : `${r[COL.appId]}\u0000${r[COL.channel]}\u0000${token}`;
        if (key !== null && seen.has(key)) later.push(r);
        else {
          if (key !== null) seen.add(key);
          round.push(r);
        }
      }
      try {
        for (const [hash, up] of await this.upsert(round)) answers.set(hash, up);
      } catch (err) {
        if (round.length === 1 || !refusedByContent(err)) {
          for (const r of round) answers.set(r[COL.secretHash]!, asError(err));
        } else {
          await Promise.all(
            round.map((r) =>
              this.upsert([r]).then(
                (one) => one.forEach((up, hash) => answers.set(hash, up)),
                (one: unknown) => void answers.set(r[COL.secretHash]!, asError(one)),
              ),
            ),
          );
        }
      }
      rest = later;
    }
    return rows.map(
      (r) => answers.get(r[COL.secretHash]!) ?? new Error('registration upsert returned no row'),
    );
  }

  private async upsert(rows: RegistrationRow[]): Promise<Map<string, Upserted>> {
    const columns = Array.from({ length: REGISTRATION_COLUMNS }, (_, i) => rows.map((r) => r[i]));
    const result = await this.db.query<{ h: string; registration_id: string; created: boolean }[]>(
      UPSERT_DEVICES,
      columns,
    );
    return new Map(result.map((r) => [r.h, { registrationId: r.registration_id, created: r.created }]));
  }

  /** A new token reactivates the device and records `token_updated_at`; `null` clears a field. */
  async update(device: DeviceEntity, input: UpdateInput): Promise<void> {
    const attrs = this.describe(input, { current: device });
    await this.db.transaction(async (tx) => {
      const patch: Partial<DeviceEntity> = { ...attrs, lastSeenAt: new Date() };
      if (input.apns_environment !== undefined) {
        if (device.channel !== 'apns') throw invalid('apns_environment: only applies to channel apns');
        patch.apnsEnvironment = input.apns_environment;
      }
      if (input.token !== undefined && input.token !== device.token) {
        if (device.channel === 'gateway') throw invalid('token: gateway devices have no provider token');
        // The new token, and the one this device gives up: two devices trading tokens at once then
        // wait for each other here instead of deadlocking on each other's rows.
        await tx.query(LOCK_TOKENS, [device.appId, device.channel, [input.token, device.token]]);
        // The token moved to this installation: whoever held it before no longer does.
        await tx.query(
          `UPDATE devices SET token = NULL, status = 'invalid', status_reason = 'token_reassigned',
                  status_changed_at = now(), updated_at = now()
            WHERE app_id = $1 AND channel = $2 AND token = $3 AND id <> $4`,
          [device.appId, device.channel, input.token, device.id],
        );
        Object.assign(patch, {
          token: input.token,
          tokenUpdatedAt: new Date(),
          status: 'active',
          statusReason: null,
          statusChangedAt: device.status === 'active' ? device.statusChangedAt : new Date(),
        } satisfies Partial<DeviceEntity>);
      }
      await tx.getRepository(DeviceEntity).update(device.id, patch);
    });
  }

  async setTags(
    device: DeviceEntity,
    change: { set?: string[]; add?: string[]; remove?: string[] },
  ): Promise<string[]> {
    return this.db.transaction(async (tx) => {
      const current = await this.lockDevice(tx, device.id);
      const next = applyTagChange(current.tags, change);
      await tx.getRepository(DeviceEntity).update(device.id, { tags: next });
      return next;
    });
  }

  /** The device row, then the alias lock: the order `jpushUpdate` takes them in, so the two cannot deadlock. */
  async setAlias(device: DeviceEntity, alias: string | null): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.lockDevice(tx, device.id);
      await this.bindAlias(tx, device.appId, device.id, alias);
    });
  }

  /** Stored for the pipeline, once per (message, device, event). */
  async recordReceipt(
    device: DeviceEntity,
    receipt: { msgId: string; event: 'delivered' | 'opened' | 'dismissed'; at?: Date },
  ): Promise<void> {
    await this.db
      .createQueryBuilder()
      .insert()
      .into(DeviceReceiptEntity)
      .values({
        messageId: receipt.msgId,
        deviceId: device.id,
        appId: device.appId,
        event: receipt.event,
        occurredAt: receipt.at ?? new Date(),
      })
      .orIgnore()
      .execute();
  }

  // ——— JPush device, tag and alias APIs (app-scoped) ———

  async findInApp(app: AppEntity, rid: string): Promise<DeviceEntity> {
    const device = await this.db
      .getRepository(DeviceEntity)
      .findOne({ where: { appId: app.id, registrationId: rid } });
    if (!device) throw notFound(rid);
    return device;
  }

  /** `POST /v3/devices/{rid}`: tags (`""` clears them), alias (`""` clears it), mobile — all or nothing. */
  async jpushUpdate(
    app: AppEntity,
    rid: string,
    body: { tags?: '' | { add?: string[]; remove?: string[] }; alias?: string; mobile?: string },
  ): Promise<void> {
    if (typeof body.tags === 'object') {
      for (const [op, list] of Object.entries(body.tags)) {
        if (list.length > MAX_TAG_CHANGE)
          throw invalid(`tags.${op}: at most ${MAX_TAG_CHANGE} tags per call`);
        if (Buffer.byteLength(list.join(''), 'utf8') > MAX_TAG_CHANGE_BYTES) {
          throw invalid(`tags.${op}: at most ${MAX_TAG_CHANGE_BYTES} bytes of tags per call`);
        }
      }
    }
    if (body.mobile !== undefined && body.mobile !== '' && !/^\+?[0-9][0-9 -]{0,19}$/.test(body.mobile)) {
      throw invalid('mobile: must be a phone number of at most 20 digits');
    }
    await this.db.transaction(async (tx) => {
      const device = await this.findInApp(app, rid);
      const locked = await this.lockDevice(tx, device.id);
      if (body.tags !== undefined) {
        const tags = body.tags === '' ? [] : applyTagChange(locked.tags, body.tags);
        await tx.getRepository(DeviceEntity).update(device.id, { tags });
      }
      if (body.alias !== undefined)
        await this.bindAlias(tx, app.id, device.id, body.alias === '' ? null : body.alias);
      if (body.mobile !== undefined) {
        await tx
          .getRepository(DeviceEntity)
          .update(device.id, { mobile: body.mobile === '' ? null : body.mobile });
      }
    });
  }

  /** JPush: at most 100 tags per platform. */
  async listTags(app: AppEntity): Promise<string[]> {
    const rows = await this.db.query<{ tag: string }[]>(
      `SELECT DISTINCT tag FROM (
         SELECT tag, row_number() OVER (PARTITION BY platform ORDER BY tag) AS n
           FROM (SELECT DISTINCT platform, unnest(tags) AS tag FROM devices WHERE app_id = $1) t
       ) ranked WHERE n <= 100 ORDER BY tag`,
      [app.id],
    );
    return rows.map((r) => r.tag);
  }

  async tagHasDevice(app: AppEntity, tag: string, rid: string): Promise<boolean> {
    assertTag(tag);
    const device = await this.findInApp(app, rid);
    return device.tags.includes(tag);
  }

  /** `POST /v3/tags/{tag}`: every registration id must be the app's, and no device may pass 1000 tags. */
  async updateTagDevices(
    app: AppEntity,
    tag: string,
    change: { add?: string[]; remove?: string[] },
  ): Promise<void> {
    assertTag(tag);
    const rids = [...new Set([...(change.add ?? []), ...(change.remove ?? [])])];
    if (rids.length === 0) throw invalid('registration_ids: add or remove is required');
    await this.db.transaction(async (tx) => {
      const found = await tx.query<{ registration_id: string; tags: string[] }[]>(
        `SELECT registration_id, tags FROM devices WHERE app_id = $1 AND registration_id = ANY($2) FOR UPDATE`,
        [app.id, rids],
      );
      if (found.length !== rids.length) {
        const known = new Set(found.map((r) => r.registration_id));
        throw invalid(
          `registration_ids: not devices of this app: ${rids
            .filter((r) => !known.has(r))
            .slice(0, 5)
            .join(', ')}`,
        );
      }
      const full = found.filter(
        (r) =>
          (change.add ?? []).includes(r.registration_id) &&
          !r.tags.includes(tag) &&
          r.tags.length >= MAX_TAGS_PER_DEVICE,
      );
      if (full.length > 0)
        throw invalid(`registration_ids: ${full[0].registration_id} already has ${MAX_TAGS_PER_DEVICE} tags`);
      if (change.add?.length) {
        await tx.query(
          `UPDATE devices SET tags = array_append(tags, $3), updated_at = now()
            WHERE app_id = $1 AND registration_id = ANY($2) AND NOT (tags @> ARRAY[$3])`,
          [app.id, change.add, tag],
        );
      }
      if (change.remove?.length) {
        await tx.query(
          `UPDATE devices SET tags = array_remove(tags, $3), updated_at = now()
            WHERE app_id = $1 AND registration_id = ANY($2) AND tags @> ARRAY[$3]`,
          [app.id, change.remove, tag],
        );
      }
    });
  }

  async deleteTag(app: AppEntity, tag: string, platforms?: Platform[]): Promise<void> {
    assertTag(tag);
    await this.db.query(
      `UPDATE devices SET tags = array_remove(tags, $2), updated_at = now()
        WHERE app_id = $1 AND tags @> ARRAY[$2] AND ($3::text[] IS NULL OR platform = ANY($3))`,
      [app.id, tag, platforms ?? null],
    );
  }

  async aliasDevices(app: AppEntity, alias: string, platforms?: Platform[]): Promise<string[]> {
    assertAlias(alias);
    const rows = await this.db.query<{ registration_id: string }[]>(
      `SELECT registration_id FROM devices
        WHERE app_id = $1 AND alias = $2 AND ($3::text[] IS NULL OR platform = ANY($3))
        ORDER BY id LIMIT $4`,
      [app.id, alias, platforms ?? null, MAX_DEVICES_PER_ALIAS],
    );
    return rows.map((r) => r.registration_id);
  }

  async deleteAlias(app: AppEntity, alias: string, platforms?: Platform[]): Promise<void> {
    assertAlias(alias);
    await this.db.query(
      `UPDATE devices SET alias = NULL, updated_at = now()
        WHERE app_id = $1 AND alias = $2 AND ($3::text[] IS NULL OR platform = ANY($3))`,
      [app.id, alias, platforms ?? null],
    );
  }

  /** The devices of `rids` that belong to this app, for the online-status API. */
  async lastSeen(app: AppEntity, rids: string[]): Promise<Map<string, Date | null>> {
    const rows = await this.db.query<{ registration_id: string; last_seen_at: Date | null }[]>(
      `SELECT registration_id, last_seen_at FROM devices WHERE app_id = $1 AND registration_id = ANY($2)`,
      [app.id, rids],
    );
    return new Map(rows.map((r) => [r.registration_id, r.last_seen_at]));
  }

  // ——— internals ———

  private async lockDevice(tx: EntityManager, id: string): Promise<DeviceEntity> {
    return tx
      .getRepository(DeviceEntity)
      .createQueryBuilder('d')
      .setLock('pessimistic_write')
      .where('d.id = :id', { id })
      .getOneOrFail();
  }

  /**
   * At most ten devices per alias; the per-alias lock makes two concurrent binds count each other.
   * Callers hold the device's row lock first (`lockDevice`): one lock order for every path.
   */
  private async bindAlias(
    tx: EntityManager,
    appId: string,
    deviceId: string,
    alias: string | null,
  ): Promise<void> {
    if (alias !== null) {
      assertAlias(alias);
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`alias:${appId}:${alias}`]);
      const [{ n }] = await tx.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM devices WHERE app_id = $1 AND alias = $2 AND id <> $3`,
        [appId, alias, deviceId],
      );
      if (n >= MAX_DEVICES_PER_ALIAS) {
        throw invalid(`alias: already bound to ${MAX_DEVICES_PER_ALIAS} devices`, 'conflict');
      }
    }
    await tx.getRepository(DeviceEntity).update(deviceId, { alias });
  }

  /** Normalised descriptive fields; `fromIp` fills the region when the device sent none. */
  private describe(
    input: Partial<
      Record<
        | 'language'
        | 'timezone'
        | 'country'
        | 'province'
        | 'city'
        | 'app_version'
        | 'os_version'
        | 'device_model',
        string | null
      >
    >,
    options: { fromIp?: string; current?: DeviceEntity },
  ): Descriptive {
    const out: Descriptive = {};
    const set = <K extends keyof Descriptive>(
      key: K,
      value: string | null | undefined,
      fn: (v: string) => Descriptive[K],
    ) => {
      if (value === undefined) return;
      out[key] = value === null ? null : fn(value);
    };
    set('language', input.language, (v) => normaliseLanguage(v).tag);
    set('timezone', input.timezone, normaliseTimezone);
    set('country', input.country, normaliseCountry);
    const country = out.country ?? options.current?.country ?? null;
    set('province', input.province, (v) => normaliseProvince(v, country));
    set('city', input.city, normaliseCity);
    set('osVersion', input.os_version, (v) => v);
    set('deviceModel', input.device_model, (v) => v);
    if (input.app_version !== undefined) {
      out.appVersion = input.app_version;
      out.appVersionKey = input.app_version === null ? null : appVersionKey(input.app_version);
    }
    const regionGiven = [input.country, input.province, input.city].some((v) => v !== undefined);
    if (!regionGiven && options.fromIp !== undefined) {
      const region = this.geo.lookup(options.fromIp);
      if (region) Object.assign(out, region);
    }
    return out;
  }
}

function assertTag(tag: string): void {
  if (!isValidTag(tag))
    throw invalid(
      `tag "${tag.slice(0, 64)}": at most 40 bytes of letters, digits, _ and JPush's @!#$&*+=.|￥`,
    );
}

function assertAlias(alias: string): void {
  if (!isValidAlias(alias)) {
    throw invalid(
      `alias "${alias.slice(0, 64)}": at most 40 bytes of letters, digits, _ and JPush's @!#$&*+=.|￥`,
    );
  }
}

/** The device's tags after a change, validated; throws before anything is written. */
export function applyTagChange(
  current: string[],
  change: { set?: string[]; add?: string[]; remove?: string[] },
): string[] {
  for (const tag of [...(change.set ?? []), ...(change.add ?? []), ...(change.remove ?? [])]) assertTag(tag);
  const base = change.set ? new Set(change.set) : new Set(current);
  for (const tag of change.add ?? []) base.add(tag);
  for (const tag of change.remove ?? []) base.delete(tag);
  if (base.size > MAX_TAGS_PER_DEVICE)
    throw invalid(`tags: a device has at most ${MAX_TAGS_PER_DEVICE} tags`);
  return [...base];
}

export function parsePlatformsQuery(value: unknown): Platform[] | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw invalid('platform: a comma-separated list');
  const list = value.split(',').map((p) => p.trim());
  for (const p of list) {
    if (!(PLATFORMS as readonly string[]).includes(p))
      throw invalid(`platform: unknown platform ${p.slice(0, 20)}`);
  }
  return list as Platform[];
}
