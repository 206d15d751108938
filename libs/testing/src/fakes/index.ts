export {
  APNS_SCRIPTS,
  FakeApnsServer,
  type FakeApnsOptions,
  type FakeApnsRequest,
  type FakeApnsScript,
  type FakeApnsStats,
} from './fake-apns.server';
export {
  FakeFcmServer,
  type FakeFcmOptions,
  type FakeFcmRequest,
  type FakeFcmScript,
  type FakeFcmStats,
  type FcmErrorCode,
} from './fake-fcm.server';
export {
  createFakeApnsKey,
  createFakeServiceAccount,
  type FakeApnsKey,
  type FakeServiceAccount,
} from './fake-credentials';
export { testCerts, type TestCerts } from './test-certs';
