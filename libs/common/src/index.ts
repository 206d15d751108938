export { ERROR_CODES, HeraldError, type ErrorCode, type HeraldErrorOptions } from './herald.error';
export { createLogger, loggerOptions, REDACT_PATHS, tokenSuffix } from './logger';
export { MicroBatcher, splitOnFailure, type MicroBatcherOptions } from './micro-batcher';
