export {
  createApp,
  createDevice,
  createTenant,
  createTenantFixture,
  createUser,
  type CreatedApp,
  type CreatedDevice,
  type CreatedUser,
  type DeviceOverrides,
  type TenantFixture,
} from './factories';
export {
  buildAppsOnce,
  freePort,
  gatewayEnv,
  spawnApp,
  startGatewayProcess,
  waitUntil,
  type AppProcess,
  type GatewayTarget,
} from './processes.util';
export { drainQueues, QueueDrainError } from './queue-drain';
export { testConfig, TEST_MASTER_KEY } from './test-config';
export { createTestContext, deleteNamespace, type TestContext } from './test-context';
export {
  createTestDatabase,
  databaseUrl,
  prepareTemplateDatabase,
  templateDatabaseName,
  type TestDatabase,
} from './test-database';
export * from './fakes';
