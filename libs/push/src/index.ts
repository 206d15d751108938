export type { CallbackSpec, PayloadSizes, PushOptions, PushSpec } from './push.types';
export { PushComposer, type Composed, type ComposedApns, type ComposedGateway } from './composer';
export { CredentialStore, type AppCredentials, type StoredApns, type StoredFcm } from './credential.store';
export {
  CALLBACK_TYPE_BIT,
  callbackTypeMaskSql,
  enqueueCallbackEvents,
  type CallbackEvent,
  type SqlRunner,
} from './callback-events';
export { recordDropped, type DroppedReason } from './dropped-entries';
export {
  insertMessage,
  insertMessages,
  isSingleShard,
  type MessageSource,
  type NewMessage,
  type MessageTarget,
  type TargetedMessage,
} from './message.store';
export {
  enqueuePlan,
  enqueueShards,
  planJob,
  planJobId,
  recallJobId,
  shardJobId,
  shardJobs,
  type PushJob,
} from './push-jobs';
export { parseCid, parsePushRequest, PUSH_LIMITS } from './push-request.parser';
export { assertPayloadsFit, measurePayloads, MEASURE_PLACEHOLDERS } from './payload-measure';
export { BATCH_MAX_ENTRIES, parseBatchSingle, type BatchEntry } from './batch-request.parser';
