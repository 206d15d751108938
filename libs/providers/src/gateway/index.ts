export {
  GatewayDeliveryAdapter,
  type DroppedEntry,
  type GatewayDeliveryOptions,
  type GatewayMessage,
  type GatewaySendResult,
} from './gateway-delivery.adapter';
export { encodeKick, encodeLive, encodeRing, GatewayKeys, parsePresence, RingOp } from './gateway.keys';
export {
  ACKED_TTL_MS,
  defineGatewayScripts,
  InboxStore,
  PresenceReader,
  PresenceStore,
  SharedFrames,
  type FetchedEntry,
  type InboxEntry,
  type ResolvedFetch,
  type InsertReply,
  type PresenceStatus,
  type RecallStatus,
} from './inbox.store';
