export { HeartbeatPolicy } from './heartbeat.policy';
export {
  HeraldGatewayClient,
  type HeraldGatewayClientOptions,
  type WebSocketConstructor,
  type WebSocketLike,
} from './herald-gateway.client';
