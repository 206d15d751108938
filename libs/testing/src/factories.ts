import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { HeraldConfig } from '@herald/config';
import {
  generateAppKey,
  generateDeviceSecret,
  generateMasterSecret,
  generateRegistrationId,
  PasswordHasher,
  SecretHasher,
} from '@herald/crypto';
import {
  AppEntity,
  DeviceEntity,
  MembershipEntity,
  TenantEntity,
  UserEntity,
  type DeviceChannel,
  type MemberRole,
} from '@herald/db';

/** Cheap argon2 parameters: tests check behaviour, not the cost of an attacker's guess. */
const testPasswords = new PasswordHasher({ memoryCost: 1024, timeCost: 1 });

let seq = 0;
const unique = (label: string) => `${label}-${++seq}-${randomBytes(3).toString('hex')}`;

export async function createTenant(db: DataSource, name = unique('tenant')): Promise<TenantEntity> {
  return db.getRepository(TenantEntity).save({ name });
}

export interface CreatedUser {
  user: UserEntity;
  password: string;
}

export async function createUser(
  db: DataSource,
  tenant: TenantEntity,
  role: MemberRole = 'owner',
  email = `${unique('user')}@example.test`,
): Promise<CreatedUser> {
  const password = `pw-${randomBytes(9).toString('base64url')}`;
  const user = await db
    .getRepository(UserEntity)
    .save({ email, passwordHash: await testPasswords.hash(password), displayName: email });
  await db.getRepository(MembershipEntity).save({ tenantId: tenant.id, userId: user.id, role });
  return { user, password };
}

export interface CreatedApp {
  app: AppEntity;
  appKey: string;
  masterSecret: string;
  /** `Authorization` header value for the developer API. */
  basicAuth: string;
}

export async function createApp(
  db: DataSource,
  config: HeraldConfig,
  tenant: TenantEntity,
  overrides: Partial<Pick<AppEntity, 'name' | 'timezone' | 'rateLimitPerMinute'>> = {},
): Promise<CreatedApp> {
  const appKey = generateAppKey();
  const masterSecret = generateMasterSecret();
  const app = await db.getRepository(AppEntity).save({
    tenantId: tenant.id,
    name: overrides.name ?? unique('app'),
    appKey,
    masterSecretHash: new SecretHasher(config.crypto).hash(masterSecret),
    timezone: overrides.timezone ?? 'UTC',
    rateLimitPerMinute: overrides.rateLimitPerMinute ?? 600,
  });
  return {
    app,
    appKey,
    masterSecret,
    basicAuth: `Basic ${Buffer.from(`${appKey}:${masterSecret}`).toString('base64')}`,
  };
}

export interface CreatedDevice {
  device: DeviceEntity;
  deviceSecret: string;
  /** `Authorization` header value for the SDK API and the gateway. */
  bearer: string;
}

export type DeviceOverrides = Partial<Omit<DeviceEntity, 'id' | 'appId' | 'deviceSecretHash'>>;

const defaultToken: Record<DeviceChannel, () => string | null> = {
  apns: () => randomBytes(32).toString('hex'),
  fcm: () => `fcm-${randomBytes(48).toString('base64url')}`,
  gateway: () => null,
};

export async function createDevice(
  db: DataSource,
  config: HeraldConfig,
  app: AppEntity,
  overrides: DeviceOverrides = {},
): Promise<CreatedDevice> {
  const channel = overrides.channel ?? 'apns';
  const deviceSecret = generateDeviceSecret();
  const registrationId = overrides.registrationId ?? generateRegistrationId();
  const device = await db.getRepository(DeviceEntity).save({
    platform: channel === 'apns' ? 'ios' : 'android',
    token: defaultToken[channel](),
    apnsEnvironment: channel === 'apns' ? 'production' : null,
    tags: [],
    ...overrides,
    channel,
    registrationId,
    appId: app.id,
    deviceSecretHash: new SecretHasher(config.crypto).hash(deviceSecret),
  });
  return { device, deviceSecret, bearer: `Bearer ${registrationId}:${deviceSecret}` };
}

export interface TenantFixture {
  tenant: TenantEntity;
  owner: CreatedUser;
  app: CreatedApp;
  devices: CreatedDevice[];
}

/** One call: a tenant with an owner, an app with known credentials and, if asked, some devices. */
export async function createTenantFixture(
  db: DataSource,
  config: HeraldConfig,
  options: { devices?: DeviceOverrides[] } = {},
): Promise<TenantFixture> {
  const tenant = await createTenant(db);
  const owner = await createUser(db, tenant, 'owner');
  const app = await createApp(db, config, tenant);
  const devices: CreatedDevice[] = [];
  for (const d of options.devices ?? []) devices.push(await createDevice(db, config, app.app, d));
  return { tenant, owner, app, devices };
}
