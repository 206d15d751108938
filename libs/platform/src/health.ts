import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';

export type CheckResult = { status: 'up' } | { status: 'down'; error: string };

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function check(fn: () => Promise<unknown>, what: string, timeoutMs: number): Promise<CheckResult> {
  try {
    await withTimeout(fn(), timeoutMs, what);
    return { status: 'up' };
  } catch (err) {
    return { status: 'down', error: err instanceof Error ? err.message : String(err) };
  }
}

/** Readiness: can this process reach PostgreSQL and Redis right now? */
export async function readiness(
  deps: { db?: DataSource; redis?: Redis },
  timeoutMs = 2_000,
): Promise<{ ok: boolean; checks: Record<string, CheckResult> }> {
  const checks: Record<string, CheckResult> = {};
  const pending: Promise<void>[] = [];
  if (deps.db) {
    const db = deps.db;
    pending.push(
      check(() => db.query('SELECT 1'), 'postgres', timeoutMs).then((r) => void (checks.postgres = r)),
    );
  }
  if (deps.redis) {
    const redis = deps.redis;
    pending.push(check(() => redis.ping(), 'redis', timeoutMs).then((r) => void (checks.redis = r)));
  }
  await Promise.all(pending);
  return { ok: Object.values(checks).every((c) => c.status === 'up'), checks };
}
