export type PayloadChannel = 'apns' | 'apns_voip' | 'fcm' | 'gateway';

/**
 * What each provider accepts, in bytes of the serialised payload. The gateway's bound comes from the
 * protocol's 64 KiB frame limit, minus room for the frame envelope around the body.
 */
export const PAYLOAD_LIMITS: Readonly<Record<PayloadChannel, number>> = {
  apns: 4096,
  apns_voip: 5120,
  fcm: 4096,
  gateway: 63 * 1024,
};

export interface PayloadTooLarge {
  code: 'payload_too_large';
  channel: PayloadChannel;
  bytes: number;
  limit: number;
  message: string;
}

export function checkPayloadSize(channel: PayloadChannel, body: string): PayloadTooLarge | undefined {
  const bytes = Buffer.byteLength(body, 'utf8');
  const limit = PAYLOAD_LIMITS[channel];
  if (bytes <= limit) return undefined;
  return {
    code: 'payload_too_large',
    channel,
    bytes,
    limit,
    message: `${channel} payload is ${bytes} bytes; the limit is ${limit}`,
  };
}
