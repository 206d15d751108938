/**
 * Every BullMQ queue Herald runs. Keys carry the prefix `{<prefix>}`: the braces are a Redis Cluster
 * hash tag, so a queue's keys share one slot and its Lua scripts stay legal. Today every queue shares
 * the one tag, which keeps flows that span queues (a plan job with shard children) legal too, at the
 * cost of putting all queues on one cluster slot; the scale-out issue measures whether to split it.
 */
export const QUEUE_NAMES = ['maintenance', 'push', 'feedback', 'callbacks'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export function bullPrefix(prefix: string): string {
  return `{${prefix}}`;
}
