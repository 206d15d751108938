import { MicroBatcher, splitOnFailure } from './micro-batcher';

describe('MicroBatcher', () => {
  it('runs the items submitted in one turn together, and answers each caller with its own result', async () => {
    const batches: number[][] = [];
    const batcher = new MicroBatcher<number, number>({
      run: async (items) => {
        batches.push(items);
        return items.map((n) => n * 10);
      },
    });
    const answers = await Promise.all([1, 2, 3].map((n) => batcher.submit(n)));
    expect(answers).toEqual([10, 20, 30]);
    expect(batches).toEqual([[1, 2, 3]]);
    expect(await batcher.submit(4)).toBe(40);
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  it('fails only the item whose answer is an error; a thrown batch fails all of its items', async () => {
    let throwAll = false;
    const batcher = new MicroBatcher<number, number>({
      run: async (items) => {
        if (throwAll) throw new Error('down');
        return items.map((n) => (n === 2 ? new Error(`bad ${n}`) : n));
      },
    });
    const settled = await Promise.allSettled([1, 2, 3].map((n) => batcher.submit(n)));
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual([
      1,
      'bad 2',
      3,
    ]);
    throwAll = true;
    const failed = await Promise.allSettled([1, 2].map((n) => batcher.submit(n)));
    expect(failed.map((s) => s.status === 'rejected' && (s.reason as Error).message)).toEqual([
      'down',
      'down',
    ]);
  });

  it('caps the batch size and the batches in flight; what arrives meanwhile forms the next batch', async () => {
    const batches: number[][] = [];
    const release: (() => void)[] = [];
    const batcher = new MicroBatcher<number, number>({
      run: (items) => {
        batches.push(items);
        return new Promise((resolve) => release.push(() => resolve(items)));
      },
      maxBatch: 2,
      maxInFlight: 1,
    });
    const first = [1, 2, 3].map((n) => batcher.submit(n));
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([[1, 2]]);
    const later = [4, 5].map((n) => batcher.submit(n));
    await new Promise((r) => setImmediate(r));
    expect(batches).toHaveLength(1);
    release.shift()!();
    await Promise.all(first.slice(0, 2));
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([
      [1, 2],
      [3, 4],
    ]);
    release.shift()!();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    release.shift()!();
    expect(await Promise.all([...first, ...later])).toEqual([1, 2, 3, 4, 5]);
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
  });
});

describe('splitOnFailure', () => {
  // A shared call that fails whenever a 'bad' item is in it, as PostgreSQL refuses a whole statement.
  const calls: string[][] = [];
  const run = async (items: string[]) => {
    calls.push(items);
    if (items.includes('bad')) throw Object.assign(new Error(`refused: ${items.join()}`), { refused: true });
    return items.map((i) => i.toUpperCase());
  };
  const refused = (err: unknown) => (err as { refused?: boolean }).refused === true;
  beforeEach(() => (calls.length = 0));

  it('answers a batch that succeeds with one call', async () => {
    expect(await splitOnFailure(run, refused)(['a', 'b'])).toEqual(['A', 'B']);
    expect(calls).toEqual([['a', 'b']]);
  });

  it('runs each item alone after a refusal: the error reaches only the item at fault', async () => {
    const answers = await splitOnFailure(run, refused)(['a', 'bad', 'c']);
    expect(answers[0]).toBe('A');
    expect(answers[1]).toBeInstanceOf(Error);
    expect(answers[2]).toBe('C');
    expect(calls).toEqual([['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
  });

  it('fails the whole batch at once when the failure would only repeat per item', async () => {
    const down = async (items: string[]) => {
      calls.push(items);
      throw new Error('no connection');
    };
    await expect(splitOnFailure(down, refused)(['a', 'b'])).rejects.toThrow('no connection');
    expect(calls).toEqual([['a', 'b']]);
  });
});
