export {
  isJobName,
  JOB_NAMES,
  JOBS,
  parseJobPayload,
  RECURRING_JOBS,
  type JobInput,
  type JobName,
  type JobPayload,
} from './job-contracts';
export { bullPrefix, QUEUE_NAMES, type QueueName } from './queue.names';
export {
  closeRedis,
  createRedis,
  execPerNode,
  isCluster,
  keySlot,
  waitUntilReady,
  type PipelineReply,
  type RedisRole,
  type RedisTarget,
} from './redis.factory';
