import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What the provider clients answer per token, folded to the few kinds a dashboard needs. */
export type DeliveryOutcomeKind = 'sent' | 'invalid_token' | 'retryable' | 'rate_limited' | 'permanent';
export type DeliveryChannel = 'apns' | 'fcm' | 'gateway';

/** Everything a scrape samples on demand (queue depths and ages), registered by the app that can. */
export type ScrapeSampler = () => Promise<void>;

/**
 * The process's Prometheus registry and every Herald metric. One per process: the all-in-one serves
 * api, worker and gateway metrics from one registry. Labels are small fixed sets (channel, outcome
 * kind, queue, route pattern) — never a token, device, app or message id — so series stay bounded.
 */
export class HeraldMetrics {
  readonly registry = new Registry();
  private readonly samplers = new Set<ScrapeSampler>();

  readonly pushesAccepted = new Counter({
    name: 'herald_pushes_accepted_total',
    help: 'Pushes accepted (a message row created and its fan-out enqueued), by source',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  readonly deliveries = new Counter({
    name: 'herald_deliveries_total',
    help: 'Per-device send outcomes by channel and outcome kind (retried sends count once per attempt)',
    labelNames: ['channel', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly retries = new Counter({
    name: 'herald_delivery_retries_total',
    help: 'Per-device resends after a transient provider failure, by channel',
    labelNames: ['channel'] as const,
    registers: [this.registry],
  });

  readonly providerLatency = new Histogram({
    name: 'herald_provider_send_seconds',
    help: 'Duration of one provider send call (a page of tokens; for the gateway, one Redis batch)',
    labelNames: ['channel'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly queueJobs = new Gauge({
    name: 'herald_queue_jobs',
    help: 'BullMQ jobs per queue and state, sampled at scrape time',
    labelNames: ['queue', 'state'] as const,
    registers: [this.registry],
  });

  readonly queueOldestWaiting = new Gauge({
    name: 'herald_queue_oldest_waiting_seconds',
    help: 'Age of the oldest job waiting in each queue (0 when none), sampled at scrape time',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });

  readonly gatewayConnections = new Gauge({
    name: 'herald_gateway_connections',
    help: 'Authenticated WebSocket connections held by this gateway node',
    registers: [this.registry],
  });

  readonly gatewayConnectionsOpened = new Counter({
    name: 'herald_gateway_connections_opened_total',
    help: 'WebSocket connections authenticated by this node',
    registers: [this.registry],
  });

  readonly gatewayConnectionsClosed = new Counter({
    name: 'herald_gateway_connections_closed_total',
    help: 'Connections closed by this node or the client, by close code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly gatewayFrames = new Counter({
    name: 'herald_gateway_frames_total',
    help: 'Gateway frames by direction (in = from devices, out = to devices) and frame type',
    labelNames: ['direction', 'type'] as const,
    registers: [this.registry],
  });

  readonly gatewayReceiptsIgnored = new Counter({
    name: 'herald_gateway_receipts_ignored_total',
    help: 'Message ids in acks and events not counted: never sent to the device that reported them',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });

  readonly feedbackActions = new Counter({
    name: 'herald_feedback_total',
    help: 'Token hygiene actions by channel, provider reason and action',
    labelNames: ['channel', 'reason', 'action'] as const,
    registers: [this.registry],
  });

  readonly scheduleFires = new Counter({
    name: 'herald_schedule_fires_total',
    help: 'Scheduled pushes fired (a message created from a schedule), by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'herald_http_request_duration_seconds',
    help: 'HTTP request duration by method, route pattern and status class',
    labelNames: ['app', 'method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'herald_' });
  }

  /** Counts one page's outcomes: one label lookup per outcome kind, not per token. */
  countOutcomes(channel: DeliveryChannel, outcomes: readonly { kind: DeliveryOutcomeKind }[]): void {
    if (outcomes.length === 0) return;
    const byKind = new Map<DeliveryOutcomeKind, number>();
    for (const o of outcomes) byKind.set(o.kind, (byKind.get(o.kind) ?? 0) + 1);
    for (const [outcome, n] of byKind) this.deliveries.inc({ channel, outcome }, n);
  }

  /** Times a provider call; the histogram gets one observation per call, failed or not. */
  async timeSend<T>(channel: DeliveryChannel, send: () => Promise<T>): Promise<T> {
    const end = this.providerLatency.startTimer({ channel });
    try {
      return await send();
    } finally {
      end();
    }
  }

  /** Registers a scrape-time sampler (queue depths); returns its removal. */
  addSampler(sampler: ScrapeSampler): () => void {
    this.samplers.add(sampler);
    return () => this.samplers.delete(sampler);
  }

  /** The Prometheus text exposition, after running the samplers (each bounded; a failure skips it). */
  async render(): Promise<string> {
    await Promise.all([...this.samplers].map((s) => s().catch(() => undefined)));
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** The process-wide registry (a module singleton, so call sites outside Nest can count cheaply). */
export const heraldMetrics = new HeraldMetrics();
