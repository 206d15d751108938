import { once } from 'node:events';
import { WebSocket } from 'ws';

export { freePort } from '@herald/testing';

/** Test helper for gateway specs: a raw protocol client that records every frame. */
export type Frame = { t: string; [k: string]: unknown };

export class RawClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number }>;
  private waiters: (() => void)[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.frames.push(JSON.parse(data.toString('utf8')) as Frame);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code: number) => resolve({ code })));
    ws.on('error', () => undefined);
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<RawClient> {
    const ws = new WebSocket(url, { headers });
    const client = new RawClient(ws);
    await Promise.race([once(ws, 'open'), client.closed]);
    return client;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  of(t: string): Frame[] {
    return this.frames.filter((f) => f.t === t);
  }

  /** Waits until `predicate` holds over the frames received so far. */
  async until(predicate: (frames: Frame[]) => boolean, timeoutMs = 5_000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.frames)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; frames: ${JSON.stringify(this.frames).slice(0, 800)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.frames;
  }

  msgIds(): string[] {
    return this.of('msg').map((f) => f.id as string);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
