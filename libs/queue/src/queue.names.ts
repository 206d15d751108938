/**
 * Every BullMQ queue Herald runs. A queue's keys carry the prefix `{<prefix>}`: the braces are a
 * Redis Cluster hash tag, so all of a queue's keys share one slot and its Lua scripts stay legal.
 */
export const QUEUE_NAMES = ['maintenance'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export function bullPrefix(prefix: string): string {
  return `{${prefix}}`;
}
