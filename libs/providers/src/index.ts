export type { DeliveryOutcome, OutcomeKind } from './outcome';
export * from './gateway';
export type {
  Extras,
  JPushAndroidNotification,
  JPushIosNotification,
  JPushLocalized,
  JPushMessage,
  JPushNotification,
  JPushOptions,
} from './jpush.types';
export { selectLocalized } from './i18n.selector';
export { nextBadge } from './badge.util';
export {
  checkPayloadSize,
  PAYLOAD_LIMITS,
  type PayloadChannel,
  type PayloadTooLarge,
} from './payload-size.check';
export {
  buildApnsRequest,
  DEFAULT_TIME_TO_LIVE_S,
  MESSAGE_ID_KEY,
  type ApnsBuildContext,
  type ApnsBuildResult,
  type ApnsPushType,
  type ApnsRequest,
} from './apns-payload.builder';
export {
  buildFcmDataMessage,
  buildFcmNotification,
  type FcmBuildContext,
  type FcmBuildResult,
  type FcmMessage,
} from './fcm-payload.builder';
export {
  buildGatewayMessageBody,
  buildGatewayNotificationBody,
  type GatewayBody,
  type GatewayBuildResult,
} from './gateway-payload.builder';
export type {
  ApnsCertificateCredentials,
  ApnsCredentials,
  ApnsTokenCredentials,
  CredentialCheck,
  CredentialMetadata,
  FcmServiceAccount,
} from './credentials.types';
export {
  apnsFingerprint,
  fcmFingerprint,
  validateApnsCertificate,
  validateApnsTokenKey,
  validateFcmServiceAccount,
} from './credentials.validator';
export { APNS_RATE_LIMIT_BACKOFF_MS, mapApnsFailure, type ApnsFailure } from './apns-outcome.mapper';
export { FCM_QUOTA_BACKOFF_MS, mapFcmError, type FcmError } from './fcm-outcome.mapper';
export {
  ApnsClient,
  APNS_DEFAULTS,
  type ApnsClientOptions,
  type ApnsEnvironment,
  type ApnsSendItem,
} from './apns.client';
export { FcmClient, FCM_DEFAULTS, ServiceAccountCredential, type FcmClientOptions } from './fcm.client';
export { EndpointAgent } from './endpoint.agent';
export { ProviderClientPool } from './provider-client.pool';
