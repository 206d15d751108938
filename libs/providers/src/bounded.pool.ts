/**
 * Runs `task` over `count` indices with at most `limit` of them in flight, filling `out` in index
 * order. This is what keeps a 50,000-token batch from opening 50,000 HTTP/2 streams at once.
 */
export async function runBounded<T>(
  count: number,
  limit: number,
  task: (index: number) => Promise<T>,
  out: T[] = new Array<T>(count),
): Promise<T[]> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      out[i] = await task(i);
    }
  };
  const lanes: Promise<void>[] = [];
  for (let l = 0; l < Math.min(limit, count); l++) lanes.push(lane());
  await Promise.all(lanes);
  return out;
}
