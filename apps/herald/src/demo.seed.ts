import { createHmac } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { HeraldConfig } from '@herald/config';
import { PasswordHasher, SecretHasher } from '@herald/crypto';
import { AppEntity, MembershipEntity, TenantEntity, UserEntity } from '@herald/db';

export const DEMO_EMAIL = 'demo@herald.local';
export const DEMO_TENANT = 'Demo tenant';
export const DEMO_APP = 'Demo app';

export interface DemoCredentials {
  email: string;
  password: string;
  tenantId: string;
  appId: string;
  appKey: string;
  masterSecret: string;
  created: boolean;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Demo secrets are derived from the installation's master key, so every run of `npm run up` prints
 * the same working credentials without storing them anywhere, and no two installations share them.
 */
export function deriveDemoSecret(masterKey: Buffer, label: string, length = 24): string {
  let out = '';
  for (let counter = 0; out.length < length; counter++) {
    const block = createHmac('sha256', masterKey).update(`herald/demo/${label}/${counter}`).digest();
    for (const byte of block) {
      // 248 = 4 × 62: rejecting the rest keeps every character equally likely.
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

/** Creates the demo tenant, owner and app once; later runs find them and change nothing. */
export async function seedDemo(db: DataSource, config: HeraldConfig): Promise<DemoCredentials> {
  const key = config.crypto.current.key;
  const password = deriveDemoSecret(key, 'password', 16);
  const appKey = deriveDemoSecret(key, 'app-key');
  const masterSecret = deriveDemoSecret(key, 'master-secret');
  const secrets = new SecretHasher(config.crypto);

  return db.transaction(async (tx) => {
    // Serialises concurrent seeds (two `npm run up` at once) without a unique constraint on names.
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('herald-demo-seed'))`);
    const existing = await tx.getRepository(AppEntity).findOne({ where: { appKey } });
    if (existing) {
      return {
        email: DEMO_EMAIL,
        password,
        tenantId: existing.tenantId,
        appId: existing.id,
        appKey,
        masterSecret,
        created: false,
      };
    }
    const tenant = await tx.getRepository(TenantEntity).save({ name: DEMO_TENANT });
    let user = await tx
      .getRepository(UserEntity)
      .createQueryBuilder('u')
      .where('lower(u.email) = lower(:email)', { email: DEMO_EMAIL })
      .getOne();
    if (!user) {
      user = await tx.getRepository(UserEntity).save({
        email: DEMO_EMAIL,
        passwordHash: await new PasswordHasher().hash(password),
        displayName: 'Demo owner',
      });
    }
    await tx.getRepository(MembershipEntity).save({ tenantId: tenant.id, userId: user.id, role: 'owner' });
    const app = await tx.getRepository(AppEntity).save({
      tenantId: tenant.id,
      name: DEMO_APP,
      appKey,
      masterSecretHash: secrets.hash(masterSecret),
      timezone: 'UTC',
    });
    return {
      email: DEMO_EMAIL,
      password,
      tenantId: tenant.id,
      appId: app.id,
      appKey,
      masterSecret,
      created: true,
    };
  });
}
