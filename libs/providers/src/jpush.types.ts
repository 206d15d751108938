/**
 * The parts of a JPush v3 push request that shape what a device receives. The API validates the
 * request; these types describe the already-validated shapes the builders consume.
 */
export type Extras = Record<string, unknown>;

export interface JPushIosNotification {
  alert?: string | Record<string, unknown>;
  sound?: string | { critical?: number; name?: string; volume?: number };
  /** A number sets the badge; `"+N"` / `"-N"` adjust the device's stored badge. */
  badge?: number | string;
  'content-available'?: boolean;
  'mutable-content'?: boolean;
  category?: string;
  'thread-id'?: string;
  'interruption-level'?: 'passive' | 'active' | 'time-sensitive' | 'critical';
  'relevance-score'?: number;
  'target-content-id'?: string;
  extras?: Extras;
}

export interface JPushAndroidNotification {
  alert?: string;
  title?: string;
  channel_id?: string;
  /** JPush's -2…2; 1 and 2 ask for a heads-up notification. */
  priority?: number;
  category?: string;
  sound?: string;
  big_pic_path?: string;
  large_icon?: string;
  style?: number;
  big_text?: string;
  builder_id?: number;
  alert_type?: number;
  extras?: Extras;
}

export interface JPushLocalized {
  alert?: string;
  title?: string;
}

export interface JPushNotification {
  alert?: string;
  ios?: JPushIosNotification;
  android?: JPushAndroidNotification;
  /** JPush's VoIP notification: arbitrary keys, delivered as-is over the `.voip` topic. */
  voip?: Extras;
  /** Herald extension: per-language content, keyed by lower-cased BCP 47 tags. */
  i18n?: Record<string, JPushLocalized>;
}

export interface JPushMessage {
  msg_content: string;
  title?: string;
  content_type?: string;
  extras?: Extras;
}

export interface JPushOptions {
  time_to_live?: number;
  apns_production?: boolean;
  apns_collapse_id?: string;
  override_msg_id?: number | string;
}
