export type { CallbackSpec, PayloadSizes, PushOptions, PushSpec } from './push.types';
export { PushComposer, type Composed, type ComposedApns, type ComposedGateway } from './composer';
export { CredentialStore, type AppCredentials, type StoredApns, type StoredFcm } from './credential.store';
export { enqueueCallbackEvents, type CallbackEvent, type SqlRunner } from './callback-events';
export { insertMessage, isSingleShard, type MessageSource, type NewMessage } from './message.store';
export { enqueuePlan, enqueueShards, planJobId, recallJobId, shardJobId } from './push-jobs';
export { parseCid, parsePushRequest, PUSH_LIMITS } from './push-request.parser';
export { assertPayloadsFit, measurePayloads, MEASURE_PLACEHOLDERS } from './payload-measure';
export { BATCH_MAX_ENTRIES, parseBatchSingle, type BatchEntry } from './batch-request.parser';
