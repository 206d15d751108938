import type { DataSource } from 'typeorm';
import type { HeraldConfig } from '@herald/config';
import { deriveAlphanumeric, PasswordHasher, SecretHasher } from '@herald/crypto';
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
  /** `created` the first time; `unchanged` after; `reset` when the stored secrets no longer matched. */
  outcome: 'created' | 'unchanged' | 'reset';
}

/**
 * Creates the demo tenant, owner and app once; later runs find them (by the owner's e-mail) and change
 * nothing. Demo secrets are derived from the installation's master key, so every run prints the same
 * working credentials without storing them, and no two installations share them. If the master key
 * changed since, the demo's secrets are reset so that what is printed always works.
 */
export async function seedDemo(db: DataSource, config: HeraldConfig): Promise<DemoCredentials> {
  const key = config.crypto.current.key;
  const password = deriveAlphanumeric(key, 'demo/password', 16);
  const appKey = deriveAlphanumeric(key, 'demo/app-key');
  const masterSecret = deriveAlphanumeric(key, 'demo/master-secret');
  const secrets = new SecretHasher(config.crypto);
  const passwords = new PasswordHasher();

  return db.transaction(async (tx) => {
    // Serialises concurrent seeds (two `npm run up` at once).
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('herald-demo-seed'))`);
    const users = tx.getRepository(UserEntity);
    const apps = tx.getRepository(AppEntity);
    const user = await users
      .createQueryBuilder('u')
      .where('lower(u.email) = lower(:email)', { email: DEMO_EMAIL })
      .getOne();
    const membership = user
      ? await tx.getRepository(MembershipEntity).findOne({ where: { userId: user.id, role: 'owner' } })
      : null;
    const app = membership
      ? await apps.findOne({ where: { tenantId: membership.tenantId, name: DEMO_APP } })
      : null;

    if (user && membership && app) {
      const works =
        app.appKey === appKey &&
        secrets.verify(masterSecret, app.masterSecretHash) &&
        (await passwords.verify(password, user.passwordHash));
      if (!works) {
        await apps.update(app.id, {
          appKey,
          masterSecretHash: secrets.hash(masterSecret),
          previousSecretHash: null,
        });
        await users.update(user.id, { passwordHash: await passwords.hash(password) });
      }
      const outcome = works ? 'unchanged' : 'reset';
      return {
        email: DEMO_EMAIL,
        password,
        tenantId: app.tenantId,
        appId: app.id,
        appKey,
        masterSecret,
        outcome,
      };
    }

    const tenant = await tx.getRepository(TenantEntity).save({ name: DEMO_TENANT });
    const owner =
      user ??
      (await users.save({
        email: DEMO_EMAIL,
        passwordHash: await passwords.hash(password),
        displayName: 'Demo owner',
      }));
    if (user) await users.update(user.id, { passwordHash: await passwords.hash(password) });
    await tx.getRepository(MembershipEntity).save({ tenantId: tenant.id, userId: owner.id, role: 'owner' });
    const created = await apps.save({
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
      appId: created.id,
      appKey,
      masterSecret,
      outcome: 'created',
    };
  });
}
