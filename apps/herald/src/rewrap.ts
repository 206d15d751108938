import type { DataSource } from 'typeorm';
import type { EnvelopeCipher } from '@herald/crypto';

export interface RewrapReport {
  credentials: number;
  webhookSecrets: number;
  messageSigningKeys: number;
  scheduleSigningKeys: number;
}

const BATCH = 500;

/**
 * Moves every envelope at rest to the current master key (`herald rewrap`), online: rows are read in
 * keyset batches and each is written back only if it still holds the envelope that was read, so a
 * value changed meanwhile (a credential re-uploaded) is never overwritten. Running it again finds
 * nothing to do. Hashed secrets (device, master and API secrets) cannot be re-keyed without the
 * secret itself: their keys must stay in `HERALD_PREVIOUS_MASTER_KEYS` (docs/operations.md).
 */
export async function rewrapEnvelopes(db: DataSource, cipher: EnvelopeCipher, currentKeyId: string) {
  const current = `v1.${currentKeyId}.%`;
  const report: RewrapReport = {
    credentials: 0,
    webhookSecrets: 0,
    messageSigningKeys: 0,
    scheduleSigningKeys: 0,
  };

  report.credentials = await sweep(
    db,
    `SELECT id::text AS id, app_id::text AS app_id, provider, environment, encrypted_payload AS value
       FROM app_credentials WHERE encrypted_payload NOT LIKE $1 AND id > $2::uuid ORDER BY id LIMIT ${BATCH}`,
    current,
    '00000000-0000-0000-0000-000000000000',
    async (row) => {
      const next = cipher.rewrap(
        row.value,
        `app_credentials:${row.app_id}:${row.provider}:${row.environment}`,
      );
      return db.query(
        `UPDATE app_credentials SET encrypted_payload = $3, updated_at = now() WHERE id = $1 AND encrypted_payload = $2`,
        [row.id, row.value, next],
      );
    },
  );

  report.webhookSecrets = await sweep(
    db,
    `SELECT id::text AS id, id::text AS app_id, webhook_secret AS value FROM apps
      WHERE webhook_secret IS NOT NULL AND webhook_secret NOT LIKE $1 AND id > $2::uuid ORDER BY id LIMIT ${BATCH}`,
    current,
    '00000000-0000-0000-0000-000000000000',
    async (row) =>
      db.query(`UPDATE apps SET webhook_secret = $3 WHERE id = $1 AND webhook_secret = $2`, [
        row.id,
        row.value,
        cipher.rewrap(row.value, `app_webhook:${row.app_id}`),
      ]),
  );

  // Callback signing keys inside stored requests: messages (callbacks may still be due) and schedules.
  for (const [table, column, key, idType, start] of [
    ['messages', 'request', 'messageSigningKeys', 'bigint', '0'],
    ['schedules', 'spec', 'scheduleSigningKeys', 'uuid', '00000000-0000-0000-0000-000000000000'],
  ] as const) {
    report[key] = await sweep(
      db,
      `SELECT id::text AS id, app_id::text AS app_id, ${column}->'callback'->>'signing_key' AS value FROM ${table}
        WHERE ${column}->'callback'->>'signing_key' NOT LIKE $1 AND id > $2::${idType} ORDER BY id LIMIT ${BATCH}`,
      current,
      start,
      async (row) =>
        db.query(
          `UPDATE ${table} SET ${column} = jsonb_set(${column}, '{callback,signing_key}', to_jsonb($3::text))
            WHERE id = $1::${idType} AND ${column}->'callback'->>'signing_key' = $2`,
          [row.id, row.value, cipher.rewrap(row.value, `callback:${row.app_id}`)],
        ),
    );
  }
  return report;
}

interface Row {
  id: string;
  app_id: string;
  value: string;
  provider?: string;
  environment?: string;
}

async function sweep(
  db: DataSource,
  select: string,
  current: string,
  start: string,
  update: (row: Row) => Promise<unknown>,
): Promise<number> {
  let after = start;
  let n = 0;
  for (;;) {
    const rows = await db.query<Row[]>(select, [current, after]);
    if (rows.length === 0) return n;
    for (const row of rows) {
      await update(row);
      n++;
    }
    after = rows[rows.length - 1].id;
  }
}
