import { HeraldGatewayClient, type WebSocketLike } from './herald-gateway.client';

/** A scripted socket: records what the client sends and lets the test play the server. */
class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(
    readonly url: string,
    readonly options?: unknown,
  ) {
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(code = 1000) {
    this.serverClose(code);
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  frame(f: unknown) {
    this.onmessage?.({ data: JSON.stringify(f) });
  }
  serverClose(code: number) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code });
  }
}

const msg = (id: string) => ({ t: 'msg', id, kind: 'message', body: {}, sent_at: 1, expires_at: 2 });

beforeEach(() => {
  FakeSocket.all = [];
  jest.useFakeTimers();
});
afterEach(() => jest.useRealTimers());

function client(extra: Partial<ConstructorParameters<typeof HeraldGatewayClient>[0]> = {}) {
  const got: string[] = [];
  const c = new HeraldGatewayClient({
    url: 'ws://gw.test/v1/connect',
    registrationId: 'rid1',
    secret: 's3cret',
    WebSocket: FakeSocket,
    onMessage: (m) => void got.push(m.id),
    random: () => 0.5,
    ...extra,
  });
  return { c, got };
}

describe('HeraldGatewayClient', () => {
  it('sends events and acks only once welcomed: before that (authentication running) they wait', () => {
    const { c } = client({ auth: 'header' });
    c.start();
    const ws = FakeSocket.all[0];
    ws.open();
    c.opened('42');
    expect(ws.sent).toEqual([]);
    ws.frame({ t: 'welcome', hb: 60, server_time: 1 });
    expect(ws.sent).toEqual([{ t: 'event', id: '42', ev: 'opened' }]);
    c.stop();
  });

  it('lengthens its heartbeat only by what a connection tested (the server may hold it shorter)', () => {
    const { c } = client();
    c.start();
    const ws = FakeSocket.all[0];
    ws.open();
    ws.frame({ t: 'welcome', hb: 60, server_time: 1 });
    for (let i = 0; i < 12; i++) {
      jest.advanceTimersByTime(60_000);
      ws.frame({ t: 'pong' });
    }
    // Three 60 s intervals held: it proposes 90 next time; twelve did not make it 180.
    expect(c.heartbeatSeconds).toBe(90);
    c.stop();
  });

  it('authenticates with hello proposing 60 s, then delivers each id once and acks in a batch', async () => {
    const { c, got } = client();
    c.start();
    const ws = FakeSocket.all[0];
    expect(ws.url).toBe('ws://gw.test/v1/connect?hb=60&sdk=herald-js%2F1');
    ws.open();
    expect(ws.sent[0]).toEqual({ t: 'hello', rid: 'rid1', secret: 's3cret', hb: 60, sdk: 'herald-js/1' });
    ws.frame({ t: 'welcome', hb: 60, server_time: 1 });
    expect(c.connected).toBe(true);
    ws.frame(msg('1'));
    ws.frame(msg('2'));
    ws.frame(msg('1'));
    await jest.advanceTimersByTimeAsync(1);
    expect(got).toEqual(['1', '2']);
    const acks = ws.sent.filter((f) => f.t === 'ack');
    expect(acks).toHaveLength(1);
    expect((acks[0].ids as string[]).sort()).toEqual(['1', '1', '2']);
    c.opened('2');
    expect(ws.sent.at(-1)).toEqual({ t: 'event', id: '2', ev: 'opened' });
    c.stop();
  });

  it('pings every interval and lengthens it after three answered intervals', async () => {
    const { c } = client();
    c.start();
    const ws = FakeSocket.all[0];
    ws.open();
    ws.frame({ t: 'welcome', hb: 60, server_time: 1 });
    for (let i = 0; i < 3; i++) {
      await jest.advanceTimersByTimeAsync(60_000);
      expect(ws.sent.at(-1)).toEqual({ t: 'ping' });
      ws.frame({ t: 'pong' });
    }
    expect(c.heartbeatSeconds).toBe(90);
    c.stop();
  });

  it('a missing pong steps back and reconnects with jittered backoff', async () => {
    const { c } = client({ heartbeat: { initialSeconds: 120 }, reconnect: { baseMs: 1_000 } });
    c.start();
    const ws = FakeSocket.all[0];
    ws.open();
    ws.frame({ t: 'welcome', hb: 120, server_time: 1 });
    await jest.advanceTimersByTimeAsync(120_000 + 10_000);
    expect(c.heartbeatSeconds).toBe(90);
    // attempt 0: random 0.5 × min(max, 1000 × 2^0) = 500 ms
    await jest.advanceTimersByTimeAsync(499);
    expect(FakeSocket.all).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all).toHaveLength(2);
    expect(FakeSocket.all[1].url).toContain('hb=90');
    // attempt 1 fails before welcome: 0.5 × 2000 = 1000 ms
    FakeSocket.all[1].serverClose(1006);
    await jest.advanceTimersByTimeAsync(999);
    expect(FakeSocket.all).toHaveLength(2);
    await jest.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all).toHaveLength(3);
    c.stop();
  });

  it.each([
    [4001, 'wrong credentials'],
    [4002, 'replaced by another instance'],
  ])('does not reconnect after %i (%s)', async (code) => {
    const { c } = client();
    c.start();
    FakeSocket.all[0].open();
    FakeSocket.all[0].frame({ t: 'welcome', hb: 60, server_time: 1 });
    FakeSocket.all[0].serverClose(code);
    await jest.advanceTimersByTimeAsync(600_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(c.lastCloseCode).toBe(code);
  });

  it('sends the bearer header when asked (Node ws)', () => {
    const { c } = client({ auth: 'header' });
    c.start();
    expect(FakeSocket.all[0].options).toEqual({ headers: { Authorization: 'Bearer rid1:s3cret' } });
    FakeSocket.all[0].open();
    expect(FakeSocket.all[0].sent).toEqual([]);
    c.stop();
  });
});
