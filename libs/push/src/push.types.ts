import type { Audience, PlatformSelection, SegmentFilters } from '@herald/audience';
import type { JPushMessage, JPushNotification } from '@herald/providers';

/**
 * A push as Herald keeps it: the JPush v3 request after validation and normalisation, JSON-safe, so it
 * is stored as-is in `messages.request` and a worker (or the reconciler, after Redis lost its data)
 * re-plans the message from the row alone.
 */
export interface PushSpec {
  platform: PlatformSelection;
  audience: Audience;
  notification?: JPushNotification;
  message?: JPushMessage;
  options: PushOptions;
  /** JPush's idempotency id `{appKey}-{uuid}`, when the request carried one. */
  cid?: string;
  callback?: CallbackSpec;
  /**
   * Set by Herald when the message is written, never by the client: the filter of each segment
   * `audience.segment` names, as it was then. Shards compile the audience from it, so a segment
   * edited or deleted while the push is in flight changes nothing of it (absent on messages stored
   * before it existed: their shards load the segments by id).
   */
  segment_filters?: SegmentFilters;
}

export interface PushOptions {
  /** JPush echoes `sendno` back as given; kept as its decimal string ("0" when absent). */
  sendno: string;
  /** Seconds; default 86400, at most 10 days; 0 = online devices only. */
  time_to_live: number;
  /** A previous `msg_id` (decimal string) this push replaces. */
  override_msg_id?: string;
  /** Present: every iOS device of the push uses this environment; absent: each device's own. */
  apns_production?: boolean;
  /** ≤ 64 bytes. */
  apns_collapse_id?: string;
  /** Minutes (≤ 1400): shards spread evenly over the duration. */
  big_push_duration?: number;
  /** Herald: an upper bound on this push's send rate, deliveries per minute. */
  throttle_per_minute?: number;
}

/** JPush's `callback`: delivery and click events POSTed to `url`. */
export interface CallbackSpec {
  url: string;
  params?: Record<string, unknown>;
  /** JPush's event mask (see the callbacks worker for the bits Herald honours). */
  type?: number;
  /**
   * Set by the API, never by the client: the master secret the push authenticated with, envelope-
   * encrypted (AAD `callback:<appId>`). Callbacks are signed with it, so the tenant verifies them with
   * the secret it already has, while apps keep only a hash of their secret.
   */
  signing_key?: string;
}

/** The payload channels a push reaches, as the provider measures them. */
export type PayloadSizes = Partial<Record<'apns' | 'apns_voip' | 'fcm' | 'gateway', number>>;
