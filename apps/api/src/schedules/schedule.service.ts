import { isDeepStrictEqual } from 'node:util';
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { AudienceService } from '@herald/audience';
import { HeraldError } from '@herald/common';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { EnvelopeCipher } from '@herald/crypto';
import type { AppEntity } from '@herald/db';
import type { PushSpec } from '@herald/push';
import {
  formatOccurrence,
  parseTrigger,
  planSchedule,
  SCHEDULE_CLOCK,
  SCHEDULE_LIMITS,
  scheduleInvalid,
  type Clock,
  type ParsedPush,
  type Trigger,
} from '@herald/schedules';
import {
  cidClaim,
  claimRecords,
  findReplay,
  keyClaim,
  keyConflict,
  recordAnswer,
  requestHash,
  type Claim,
  type ReplayRules,
} from '../push/idempotency';

/** The app fields schedules need (the dashboard passes what it loaded, the developer API the whole app). */
export type ScheduleApp = Pick<AppEntity, 'id' | 'appKey' | 'timezone'>;

/** `/v3/schedules` sees the developer's schedules; a campaign's schedule belongs to the dashboard. */
export type ScheduleScope = 'api' | 'campaign';

export interface ScheduleRow {
  id: string;
  name: string;
  enabled: boolean;
  status: 'active' | 'cancelled' | 'finished';
  trigger: Record<string, unknown>;
  push: Record<string, unknown>;
  local_time: boolean;
  timezone: string;
  next_fire_at: Date | null;
  last_fire_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** JPush's schedule object as GET answers it. */
export interface ScheduleView {
  schedule_id: string;
  name: string;
  enabled: boolean;
  trigger: Record<string, unknown>;
  push: Record<string, unknown>;
}

export interface NewSchedule {
  name: string;
  trigger: { trigger: Trigger; stored: Record<string, unknown> };
  push: ParsedPush;
  cid?: string;
}

export interface ScheduleChanges {
  name?: string;
  enabled?: boolean;
  trigger?: { trigger: Trigger; stored: Record<string, unknown> };
  push?: ParsedPush;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const COLUMNS = `s.id, s.name, s.enabled, s.status, s.trigger, s.push, s.local_time, s.timezone, s.next_fire_at,
                 s.last_fire_at, s.created_at, s.updated_at`;

export const scheduleNotFound = (id: string) =>
  new HeraldError('not_found', `schedule ${id.slice(0, 64)} does not exist`, {
    jpushCode: 8104,
    status: 404,
  });

/** A schedule's answer is `{schedule_id, name}`; a cid a push used is refused (8100, as is a key conflict). */
const SCHEDULE_REPLAY: ReplayRules = {
  isResult: (response) => typeof response.schedule_id === 'string',
  usedElsewhere: () => scheduleInvalid('cid: already used by a push'),
  conflict: () => keyConflict(8100),
};

const scopeSql = (scope: ScheduleScope) =>
  `${scope === 'api' ? 'NOT ' : ''}EXISTS (SELECT 1 FROM campaigns c WHERE c.schedule_id = s.id)`;

export const toView = (r: ScheduleRow): ScheduleView => ({
  schedule_id: r.id,
  name: r.name,
  enabled: r.enabled,
  trigger: r.trigger,
  push: r.push,
});

/**
 * Schedules as rows (the truth; workers derive everything from them): create, read, change, delete.
 * Every change re-plans `next_fire_at` from the injected clock, so the worker needs nothing else.
 */
@Injectable()
export class ScheduleService {
  private readonly cipher: EnvelopeCipher;
  private readonly audience: AudienceService;

  constructor(
    @InjectDataSource() readonly db: DataSource,
    @Inject(HERALD_CONFIG) config: HeraldConfig,
    @Inject(SCHEDULE_CLOCK) private readonly clock: Clock,
  ) {
    this.cipher = new EnvelopeCipher(config.crypto);
    this.audience = new AudienceService(db);
  }

  /**
   * Creates a schedule (in `tx` when given, so a campaign row commits with it). A `cid` or an
   * `Idempotency-Key` makes a retry answer the first result, `{schedule_id, name}` (their records are
   * written in the transaction that writes the schedule); the same key with another request is 409.
   */
  async create(
    app: ScheduleApp,
    input: NewSchedule,
    options: {
      scope?: ScheduleScope;
      masterSecret?: string;
      idempotencyKey?: string;
      tx?: EntityManager;
    } = {},
  ): Promise<{ schedule_id: string; name: string }> {
    const scope = options.scope ?? 'api';
    const claims: Claim[] = [];
    if (input.cid) claims.push(cidClaim(input.cid));
    if (options.idempotencyKey) claims.push(keyClaim(options.idempotencyKey));
    const hash =
      claims.length > 0
        ? requestHash('schedule', {
            name: input.name,
            trigger: input.trigger.stored,
            push: input.push.spec,
            cid: input.cid ?? null,
          })
        : '';
    type Created = { schedule_id: string; name: string };
    // A replay answers before any other check: the first request passed them (its time may be past now).
    if (claims.length > 0) {
      const replay = await findReplay<Created>(options.tx ?? this.db, app.id, claims, hash, SCHEDULE_REPLAY);
      if (replay) return replay;
    }
    const now = this.clock.now();
    const plan = this.plan(app.timezone, input.trigger.trigger, input.push.localTime, now);
    await this.checkAudience(app, input.push.spec);
    const spec = this.withSigningKey(app, input.push.spec, options.masterSecret);
    const run = async (tx: EntityManager) => {
      if (claims.length > 0) {
        await claimRecords(tx, app.id, claims);
        // Locks the records: a concurrent duplicate waits here and then finds the first answer.
        const replay = await findReplay<Created>(tx, app.id, claims, hash, SCHEDULE_REPLAY, true);
        if (replay) return replay;
      }
      // Serialises creations per app, so the limit holds under concurrency (a campaign's row commits
      // in this transaction too, so the next creation counts it).
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('herald-schedules:' || $1))`, [app.id]);
      // Each scope has its own limit: campaigns, hidden from /v3/schedules, do not use the developer's.
      const [{ n }] = await tx.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM schedules s
          WHERE s.app_id = $1 AND s.status = 'active' AND ${scopeSql(scope)}`,
        [app.id],
      );
      if (n >= SCHEDULE_LIMITS.maxActivePerApp) {
        const what = scope === 'api' ? 'schedules' : 'campaigns';
        throw scheduleInvalid(`an app has at most ${SCHEDULE_LIMITS.maxActivePerApp} ${what} in force`);
      }
      const [{ id }] = await tx.query<{ id: string }[]>(
        `INSERT INTO schedules (app_id, name, enabled, trigger, push, spec, local_time, timezone, cid,
                                next_fire_at, occurrence, active_from)
         VALUES ($1, $2, true, $3::jsonb, $4::jsonb, $5::jsonb, $6, $7, $8, $9, $10, $11) RETURNING id`,
        [
          app.id,
          input.name,
          JSON.stringify(input.trigger.stored),
          JSON.stringify(input.push.stored),
          JSON.stringify(spec),
          input.push.localTime,
          app.timezone,
          input.cid ?? null,
          plan.nextFireAt,
          formatOccurrence(plan.occurrence!),
          now,
        ],
      );
      const response: Created = { schedule_id: id, name: input.name };
      await recordAnswer(tx, app.id, claims, hash, response);
      return response;
    };
    return options.tx ? run(options.tx) : this.db.transaction(run);
  }

  async list(
    app: ScheduleApp,
    page: number,
  ): Promise<{ total_count: number; total_pages: number; page: number; schedules: ScheduleView[] }> {
    const size = SCHEDULE_LIMITS.pageSize;
    const [{ n }] = await this.db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM schedules s WHERE s.app_id = $1 AND s.status = 'active' AND ${scopeSql('api')}`,
      [app.id],
    );
    const rows = await this.db.query<ScheduleRow[]>(
      `SELECT ${COLUMNS} FROM schedules s
        WHERE s.app_id = $1 AND s.status = 'active' AND ${scopeSql('api')}
        ORDER BY s.created_at, s.id LIMIT $2 OFFSET $3`,
      [app.id, size, (page - 1) * size],
    );
    return { total_count: n, total_pages: Math.ceil(n / size), page, schedules: rows.map(toView) };
  }

  async find(app: ScheduleApp, id: string, scope: ScheduleScope, tx?: EntityManager): Promise<ScheduleRow> {
    if (!UUID.test(id)) throw scheduleNotFound(id);
    const [row] = await (tx ?? this.db).query<ScheduleRow[]>(
      `SELECT ${COLUMNS} FROM schedules s WHERE s.id = $1 AND s.app_id = $2 AND ${scopeSql(scope)}
       ${tx ? 'FOR UPDATE' : ''}`,
      [id, app.id],
    );
    if (!row) throw scheduleNotFound(id);
    return row;
  }

  /**
   * JPush's update: any of name, enabled, trigger, push, each replaced whole; single and periodical
   * cannot turn into each other; an expired schedule cannot change. A change of the trigger, of
   * `enabled` or of `local_time` re-plans from now (a resumed schedule does not send what it missed
   * while paused); any other change keeps the plan, so an occurrence that is due but not yet fired (a
   * worker backlog) still fires, once, late.
   */
  async update(
    app: ScheduleApp,
    id: string,
    changes: ScheduleChanges,
    options: { scope?: ScheduleScope; masterSecret?: string; tx?: EntityManager } = {},
  ): Promise<ScheduleRow> {
    const scope = options.scope ?? 'api';
    if (changes.push) await this.checkAudience(app, changes.push.spec);
    const run = async (tx: EntityManager) => {
      const row = await this.find(app, id, scope, tx);
      if (row.status !== 'active')
        throw scheduleInvalid(`the schedule has ${row.status === 'finished' ? 'expired' : 'been cancelled'}`);
      const current = parseTrigger(row.trigger);
      const trigger = changes.trigger ?? current;
      if (trigger.trigger.kind !== current.trigger.kind) {
        throw scheduleInvalid('trigger: a single schedule cannot become periodical, nor the reverse');
      }
      const localTime = changes.push ? changes.push.localTime : row.local_time;
      const enabled = changes.enabled ?? row.enabled;
      const replan =
        enabled !== row.enabled ||
        localTime !== row.local_time ||
        !isDeepStrictEqual(trigger.trigger, current.trigger);
      const now = this.clock.now();
      // null: the pending occurrence, next_fire_at and active_from stay as they are.
      const plan = replan ? this.plan(row.timezone, trigger.trigger, localTime, now) : null;
      const [[updated]] = await tx.query<[ScheduleRow[], number]>(
        `UPDATE schedules s SET name = $2, enabled = $3, trigger = $4::jsonb, push = COALESCE($5::jsonb, push),
                spec = COALESCE($6::jsonb, spec), local_time = $7, next_fire_at = COALESCE($8, s.next_fire_at),
                occurrence = COALESCE($9, s.occurrence), active_from = COALESCE($10, s.active_from),
                updated_at = now()
          WHERE s.id = $1 RETURNING ${COLUMNS}`,
        [
          id,
          changes.name ?? row.name,
          enabled,
          JSON.stringify(trigger.stored),
          changes.push ? JSON.stringify(changes.push.stored) : null,
          changes.push
            ? JSON.stringify(this.withSigningKey(app, changes.push.spec, options.masterSecret))
            : null,
          localTime,
          plan?.nextFireAt ?? null,
          plan ? formatOccurrence(plan.occurrence!) : null,
          plan ? now : null,
        ],
      );
      return updated;
    };
    return options.tx ? run(options.tx) : this.db.transaction(run);
  }

  /** Deletes the schedule; fires in progress finish, nothing fires after. */
  async remove(app: ScheduleApp, id: string): Promise<void> {
    if (!UUID.test(id)) throw scheduleNotFound(id);
    const [, count] = await this.db.query<[unknown[], number]>(
      `DELETE FROM schedules s WHERE s.id = $1 AND s.app_id = $2 AND ${scopeSql('api')}`,
      [id, app.id],
    );
    if (count === 0) throw scheduleNotFound(id);
  }

  /** The messages a schedule produced, in fire order. */
  async messageIds(app: ScheduleApp, id: string, scope: ScheduleScope = 'api'): Promise<string[]> {
    await this.find(app, id, scope);
    const rows = await this.db.query<{ id: string }[]>(
      `SELECT message_id::text AS id FROM schedule_fires
        WHERE schedule_id = $1 AND message_id IS NOT NULL ORDER BY fire_at, utc_offset_minutes`,
      [id],
    );
    return rows.map((r) => r.id);
  }

  private plan(timeZone: string, trigger: Trigger, localTime: boolean, now: Date) {
    const plan = planSchedule({ trigger, localTime, timeZone }, now, null);
    if (!plan.nextFireAt || !plan.occurrence) {
      throw scheduleInvalid('trigger: no trigger time is left in the future (the schedule would be expired)');
    }
    return plan;
  }

  /** A segment the audience names must exist now (a push would answer 1003; a schedule 8100). */
  private async checkAudience(app: ScheduleApp, spec: PushSpec): Promise<void> {
    try {
      await this.audience.compile(app.id, spec);
    } catch (err) {
      if (err instanceof HeraldError && err.status < 500) throw scheduleInvalid(`push: ${err.message}`);
      throw err;
    }
  }

  /** As for a push: callbacks are signed with the secret the request authenticated with. */
  private withSigningKey(app: ScheduleApp, spec: PushSpec, masterSecret?: string): PushSpec {
    if (!spec.callback || !masterSecret) return spec;
    return {
      ...spec,
      callback: { ...spec.callback, signing_key: this.cipher.encrypt(masterSecret, `callback:${app.id}`) },
    };
  }
}
