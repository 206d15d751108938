/**
 * Micro-benchmarks for the hot or deliberately slow paths of @herald/crypto.
 *
 * Run: `npm run bench:crypto` (TypeScript compiled on the fly by @swc-node/register).
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism, cpus } from 'node:os';
import { EnvelopeCipher, generateMasterSecret, PasswordHasher, SecretHasher } from '@herald/crypto';

const RUNS = 5;

export interface Figure {
  operation: string;
  iterations: number;
  microsPerOp: number;
  opsPerSec: number;
}

/**
 * `batch` runs all iterations itself so that sync operations are not slowed by an await per call;
 * the median of several runs keeps one GC pause or noisy neighbour from skewing the figure.
 */
async function measure(
  operation: string,
  iterations: number,
  batch: (iterations: number) => void | Promise<void>,
): Promise<Figure> {
  await batch(Math.max(1, Math.ceil(iterations / 10)));
  const nanosPerOp: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const start = process.hrtime.bigint();
    await batch(iterations);
    nanosPerOp.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  const median = nanosPerOp.sort((a, b) => a - b)[RUNS >> 1];
  return { operation, iterations, microsPerOp: median / 1e3, opsPerSec: 1e9 / median };
}

export async function main(): Promise<Figure[]> {
  const keyRing = { current: { id: 'bench', key: randomBytes(32) }, previous: [] };
  const hasher = new SecretHasher(keyRing);
  const cipher = new EnvelopeCipher(keyRing);
  const passwords = new PasswordHasher();

  const secret = generateMasterSecret();
  const stored = hasher.hash(secret);
  const payload = randomBytes(2048);

  const figures = [
    await measure('SecretHasher.verify', 100_000, (n) => {
      for (let i = 0; i < n; i++) {
        // Checking the result keeps the call observable and the benchmark honest.
        if (!hasher.verify(secret, stored)) throw new Error('verify returned false');
      }
    }),
    await measure('EnvelopeCipher.encrypt+decrypt (2 KiB)', 10_000, (n) => {
      for (let i = 0; i < n; i++) {
        if (cipher.decrypt(cipher.encrypt(payload, 'app-1'), 'app-1').length !== payload.length) {
          throw new Error('round trip changed the payload');
        }
      }
    }),
    await measure('PasswordHasher.hash (m=19456 KiB, t=2, p=1)', 10, async (n) => {
      for (let i = 0; i < n; i++) await passwords.hash('correct horse battery staple');
    }),
  ];

  console.log(`node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'})`);
  console.log(`median of ${RUNS} runs\n`);
  console.log('| operation | iterations/run | µs/op | ops/sec |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const f of figures) {
    console.log(
      `| ${f.operation} | ${f.iterations} | ${f.microsPerOp.toFixed(2)} | ${Math.round(f.opsPerSec)} |`,
    );
  }
  return figures;
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
