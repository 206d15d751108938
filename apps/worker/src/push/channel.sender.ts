import type { AudienceDevice } from '@herald/audience';
import type {
  ApnsEnvironment,
  ApnsSendItem,
  DeliveryOutcome,
  DroppedEntry,
  FcmMessage,
  GatewayMessage,
} from '@herald/providers';
import { heraldMetrics } from '@herald/metrics';
import type { AppCredentials, PushComposer, PushSpec } from '@herald/push';
import type { PushRuntime } from './push.runtime';

export interface SendContext {
  messageId: string;
  spec: PushSpec;
  composer: PushComposer;
  credentials: AppCredentials;
  /** The message's accept time (Unix ms): the gateway inbox order and the start of its time to live. */
  acceptedAt: number;
}

export interface PageResult {
  /** One per device, in input order. */
  outcomes: DeliveryOutcome[];
  /** Gateway entries of other messages pushed out of the devices' inboxes. */
  dropped: DroppedEntry[];
  /** Devices whose stored badge this push changed (JPush `"+N"`), to write back once sent. */
  badges: Map<string, number>;
}

const permanent = (reason: string): DeliveryOutcome => ({ kind: 'permanent', reason });

/** `options.apns_production`, when present, decides for every iOS device; otherwise the device's own. */
export function apnsEnvironmentOf(
  spec: PushSpec,
  device: Pick<AudienceDevice, 'apnsEnvironment'>,
): ApnsEnvironment {
  const forced = spec.options.apns_production;
  if (forced === undefined) return device.apnsEnvironment ?? 'production';
  return forced ? 'production' : 'sandbox';
}

/**
 * Sends one page of a shard on every channel at once: APNs per environment, FCM, the gateway inboxes.
 * Returns exactly one outcome per device (architecture invariant 5); a device the push cannot reach —
 * no token, no credentials, a payload over the limit — gets a `permanent` outcome with the reason.
 */
export async function sendPage(
  runtime: PushRuntime,
  ctx: SendContext,
  devices: AudienceDevice[],
): Promise<PageResult> {
  const outcomes: DeliveryOutcome[] = new Array<DeliveryOutcome>(devices.length);
  const badges = new Map<string, number>();
  const apns: Record<ApnsEnvironment, { index: number[]; items: ApnsSendItem[] }> = {
    sandbox: { index: [], items: [] },
    production: { index: [], items: [] },
  };
  const fcm: { index: number[]; items: FcmMessage[] } = { index: [], items: [] };
  const gateway = new Map<string, { message: GatewayMessage; index: number[]; rids: string[] }>();

  devices.forEach((d, i) => {
    if (d.channel === 'gateway') {
      const composed = ctx.composer.gateway(d);
      if (!composed) return void (outcomes[i] = permanent('no_payload'));
      if (!composed.ok) return void (outcomes[i] = permanent('payload_too_large'));
      const key = d.language ?? '';
      let group = gateway.get(key);
      if (!group) {
        group = {
          message: {
            id: ctx.messageId,
            kind: composed.value.kind,
            body: composed.value.body,
            sentAt: ctx.acceptedAt,
            timeToLive: ctx.spec.options.time_to_live,
            ...(ctx.spec.options.override_msg_id !== undefined && {
              overrideMsgId: ctx.spec.options.override_msg_id,
            }),
          },
          index: [],
          rids: [],
        };
        gateway.set(key, group);
      }
      group.index.push(i);
      group.rids.push(d.registrationId);
      return;
    }
    if (!d.token) return void (outcomes[i] = permanent('no_token'));
    if (d.channel === 'apns') {
      const env = apnsEnvironmentOf(ctx.spec, d);
      const cred = ctx.credentials.apns[env];
      if (!cred) return void (outcomes[i] = permanent(`no_apns_credentials_${env}`));
      const composed = ctx.composer.apns(d, cred.bundleId);
      if (!composed) return void (outcomes[i] = permanent('no_payload'));
      if (!composed.ok) return void (outcomes[i] = permanent('payload_too_large'));
      if (composed.value.badge !== undefined && composed.value.badge !== d.badge) {
        badges.set(d.id, composed.value.badge);
      }
      apns[env].index.push(i);
      apns[env].items.push({ token: d.token, request: composed.value.request });
      return;
    }
    if (!ctx.credentials.fcm) return void (outcomes[i] = permanent('no_fcm_credentials'));
    const composed = ctx.composer.fcm(d, d.token);
    if (!composed) return void (outcomes[i] = permanent('no_payload'));
    if (!composed.ok) return void (outcomes[i] = permanent('payload_too_large'));
    fcm.index.push(i);
    fcm.items.push(composed.value);
  });

  const dropped: DroppedEntry[] = [];
  const sends: Promise<void>[] = [];
  for (const env of ['sandbox', 'production'] as const) {
    const group = apns[env];
    if (group.items.length === 0) continue;
    const cred = ctx.credentials.apns[env]!;
    const client = runtime.pool.apnsClient(cred.credentials, env, cred.fingerprint);
    sends.push(
      heraldMetrics
        .timeSend('apns', () => client.send(group.items))
        .then((r) => {
          heraldMetrics.countOutcomes('apns', r);
          place(outcomes, group.index, r);
        }),
    );
  }
  if (fcm.items.length > 0) {
    const cred = ctx.credentials.fcm!;
    const client = runtime.pool.fcmClient(cred.account, cred.fingerprint);
    sends.push(
      heraldMetrics
        .timeSend('fcm', () => client.send(fcm.items))
        .then((r) => {
          heraldMetrics.countOutcomes('fcm', r);
          place(outcomes, fcm.index, r);
        }),
    );
  }
  for (const group of gateway.values()) {
    sends.push(
      heraldMetrics
        .timeSend('gateway', () => runtime.gateway.send(group.message, group.rids))
        .then((r) => {
          heraldMetrics.countOutcomes('gateway', r.outcomes);
          place(outcomes, group.index, r.outcomes);
          dropped.push(...r.dropped);
        }),
    );
  }
  await Promise.all(sends);
  // Badges only move for devices that were actually sent to.
  for (const [i, d] of devices.entries()) {
    if (badges.has(d.id) && outcomes[i].kind !== 'sent') badges.delete(d.id);
  }
  return { outcomes, dropped, badges };
}

function place(outcomes: DeliveryOutcome[], index: number[], results: DeliveryOutcome[]): void {
  index.forEach((at, j) => {
    outcomes[at] = results[j] ?? { kind: 'permanent', reason: 'no_outcome' };
  });
}
