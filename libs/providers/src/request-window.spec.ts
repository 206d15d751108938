import type { DeliveryOutcome } from './outcome';
import { DeadlineSweep, RequestWindow, type WindowBatch } from './request-window';

const sent: DeliveryOutcome = { kind: 'sent' };

describe('RequestWindow', () => {
  it('keeps at most maxInFlight items out across concurrent runs, answering each once, in place', async () => {
    const fired: [WindowBatch<string>, number][] = [];
    const window = new RequestWindow<string>(3, (b, i) => fired.push([b, i]));
    const a = new Array<DeliveryOutcome>(4);
    const b = new Array<DeliveryOutcome>(3);
    let doneA = false;
    const runA = window.run({ items: ['a0', 'a1', 'a2', 'a3'], out: a }).then(() => (doneA = true));
    const runB = window.run({ items: ['b0', 'b1', 'b2'], indices: [2, 0], out: b });
    expect(fired.map(([x, i]) => x.items[i])).toEqual(['a0', 'a1', 'a2']);
    // Each settle frees one place, which the next waiting item takes: oldest batch first.
    for (let k = 0; k < fired.length; k++) {
      const [batch, index] = fired[k];
      window.settle(batch, index, { kind: 'permanent', reason: String(batch.items[index]) });
      expect(fired.length - (k + 1)).toBeLessThanOrEqual(3);
    }
    await Promise.all([runA, runB]);
    expect(doneA).toBe(true);
    expect(fired.map(([x, i]) => x.items[i])).toEqual(['a0', 'a1', 'a2', 'a3', 'b2', 'b0']);
    expect(a.map((o) => (o.kind === 'permanent' ? o.reason : o.kind))).toEqual(['a0', 'a1', 'a2', 'a3']);
    expect(b[1]).toBeUndefined();
    expect([b[0], b[2]].map((o) => (o?.kind === 'permanent' ? o.reason : ''))).toEqual(['b0', 'b2']);
  });

  it('sends nothing while not ready, and answers what waits when told to give up', async () => {
    let ready = false;
    const fired: number[] = [];
    const window = new RequestWindow<string>(
      10,
      (batch, i) => {
        fired.push(i);
        window.settle(batch, i, sent);
      },
      () => ready,
    );
    const out = new Array<DeliveryOutcome>(2);
    const run = window.run({ items: ['x', 'y'], out });
    expect(fired).toEqual([]);
    ready = true;
    window.pump();
    await run;
    expect(out).toEqual([sent, sent]);

    ready = false;
    const held = new Array<DeliveryOutcome>(2);
    const waiting = window.run({ items: ['x', 'y'], out: held });
    window.failWaiting({ kind: 'retryable', reason: 'no token' });
    await waiting;
    expect(held).toEqual([
      { kind: 'retryable', reason: 'no token' },
      { kind: 'retryable', reason: 'no token' },
    ]);
    expect(fired).toEqual([0, 1]);
  });

  it('resolves an empty run at once', async () => {
    const window = new RequestWindow<string>(1, () => {
      throw new Error('nothing to fire');
    });
    await expect(window.run({ items: ['a'], indices: [], out: [] })).resolves.toBeUndefined();
  });
});

describe('DeadlineSweep', () => {
  it('hands over only what is past its deadline and still watched', async () => {
    const expired: string[] = [];
    const sweep = new DeadlineSweep<{ id: string; deadline: number }>(40, (p) => {
      expired.push(p.id);
      sweep.delete(p);
    });
    const late = { id: 'late', deadline: 0 };
    const answered = { id: 'answered', deadline: 0 };
    sweep.add(late);
    sweep.add(answered);
    expect(late.deadline).toBeGreaterThan(Date.now());
    sweep.delete(answered);
    await new Promise((r) => setTimeout(r, 120));
    expect(expired).toEqual(['late']);
  });
});
