/**
 * Redis memory of gateway inboxes (`npm run bench:inbox-memory`), on a private `redis-server` started
 * here (empty, so `used_memory` moves only with what this writes). A `msg` frame of 232 bytes, as in
 * docs/scaling.md:
 *
 * - first entry: one message into 100,000 devices' empty inboxes;
 * - further entries: 99 more messages into 1,000 of those inboxes (each then holds 100, the default
 *   cap);
 *
 * each written two ways: as a broadcast does (pages of 1,000 devices per insert, the frame stored once
 * for the message) and one device per insert (the frame kept in the inbox, as a unicast does).
 *
 * Environment (optional): BENCH_DEVICES (100000), BENCH_DEEP (1000), REDIS_SERVER (/usr/bin/redis-server),
 * BENCH_REDIS_ARGS (more `redis-server` arguments, e.g. `--zset-max-listpack-entries 256`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { InboxStore } from '@herald/providers';
import { freePort } from '@herald/testing';
import { log } from '../fanout/harness';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 100_000);
const DEEP = Number(process.env.BENCH_DEEP ?? 1_000);
const PER_INBOX = 100;

/** A `msg` frame of exactly 232 bytes for message `id`. */
function frame(id: string, sentAt: number): string {
  const base = { t: 'msg', id, kind: 'notification', sent_at: sentAt, expires_at: sentAt + 86_400_000 };
  const empty = JSON.stringify({ ...base, body: { alert: '' } });
  return JSON.stringify({ ...base, body: { alert: 'x'.repeat(232 - empty.length) } });
}

async function used(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

async function measure(redis: Redis, pageSize: number) {
  await redis.flushall();
  const inbox = new InboxStore(redis, 'bench');
  const rids = Array.from({ length: DEVICES }, (_, i) => `r${String(i).padStart(12, '0')}abcdef`);
  const now = Date.now();
  const write = async (id: number, targets: string[]) => {
    const sentAt = now + id;
    const entry = { id: String(1_000_000 + id), sentAt, expiresAt: sentAt + 86_400_000, frame: '' };
    entry.frame = frame(entry.id, sentAt);
    const pages: string[][] = [];
    for (let i = 0; i < targets.length; i += pageSize) pages.push(targets.slice(i, i + pageSize));
    for (let i = 0; i < pages.length; i += 64) {
      await Promise.all(pages.slice(i, i + 64).map((p) => inbox.insertMany(p, entry, PER_INBOX, now, false)));
    }
  };
  const m0 = await used(redis);
  await write(0, rids);
  const m1 = await used(redis);
  const deep = rids.slice(0, DEEP);
  for (let id = 1; id < PER_INBOX; id++) await write(id, deep);
  const m2 = await used(redis);
  return {
    firstEntryBytes: Math.round((m1 - m0) / DEVICES),
    furtherEntryBytes: Math.round((m2 - m1) / (DEEP * (PER_INBOX - 1))),
    fullInboxBytes: Math.round((m1 - m0) / DEVICES + (m2 - m1) / DEEP),
  };
}

async function main() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'herald-inbox-mem-'));
  const server = spawn(
    process.env.REDIS_SERVER ?? '/usr/bin/redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      ...(process.env.BENCH_REDIS_ARGS ?? '').split(' ').filter(Boolean),
    ],
    { stdio: 'ignore' },
  );
  // Commands wait in ioredis' offline queue while the server starts; it retries every 100 ms.
  const redis = new Redis({ port, host: '127.0.0.1', retryStrategy: () => 100 });
  redis.on('error', () => undefined);
  try {
    await redis.ping();
    const info = await redis.info('server');
    log(
      `redis ${/redis_version:(\S+)/.exec(info)?.[1]} on ${port}; ${DEVICES} devices, ${DEEP} with full inboxes`,
    );
    const shared = await measure(redis, 1_000);
    log('broadcast (pages of 1,000 devices, frame stored once):', JSON.stringify(shared));
    const inline = await measure(redis, 1);
    log('one device per insert (frame in the inbox):', JSON.stringify(inline));
    log(
      'summary',
      JSON.stringify({
        date: new Date().toISOString().slice(0, 10),
        shared,
        inline,
        ratio: {
          first: +(inline.firstEntryBytes / shared.firstEntryBytes).toFixed(2),
          further: +(inline.furtherEntryBytes / shared.furtherEntryBytes).toFixed(2),
          fullInbox: +(inline.fullInboxBytes / shared.fullInboxBytes).toFixed(2),
        },
      }),
    );
  } finally {
    redis.disconnect();
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
