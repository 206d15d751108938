/**
 * Provider adapters vs @parse/push-adapter 8.5.5, both against the fake APNs and FCM.
 *
 * Run: `npm run bench:providers` (optionally `-- --tokens 50000 --runs 1 --peer-runs 0 --provider apns`;
 * `--register` runs the clients under `@swc-node/register` as the first rows did; `HERALD_BENCH_CPU_PROF=dir`
 * writes a CPU profile per client process).
 *
 * Each (implementation × provider × latency) run happens in a fresh client process, so CPU time and
 * peak RSS belong to that client alone; the fakes run in their own processes. 1% of tokens are
 * invalid (the fakes answer Unregistered / UNREGISTERED for them).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';

type Impl = 'herald' | 'peer';
type ProviderName = 'apns' | 'fcm';

interface Ready {
  url: string;
  ca: string;
  credentials: Record<string, string>;
}

interface ClientJob {
  impl: Impl;
  provider: ProviderName;
  tokens: number;
  fake: Ready;
}

interface ClientResult {
  impl: Impl;
  provider: ProviderName;
  tokens: number;
  wallMs: number;
  cpuUs: number;
  maxRssMb: number;
  sent: number;
  invalid: number;
  failures: number;
  failureSample?: string;
}

const INVALID_PREFIX = { apns: 'ffff', fcm: 'bad-' } as const;
const PEER_MAX_SESSION_MEMORY_MB = 256;
const PEER_FCM_SOCKETS = 64;
const REGISTER = ['-r', '@swc-node/register'];

function tokenFor(provider: ProviderName, i: number): string {
  const invalid = i % 100 === 0;
  if (provider === 'apns') return (invalid ? INVALID_PREFIX.apns : 'aaaa') + i.toString(16).padStart(60, '0');
  return `${invalid ? INVALID_PREFIX.fcm : 'tok-'}${i.toString(36).padStart(24, '0')}:APA91b${'x'.repeat(100)}`;
}

// ---------------------------------------------------------------- client process

async function runClient(job: ClientJob): Promise<ClientResult> {
  const tokens = Array.from({ length: job.tokens }, (_, i) => tokenFor(job.provider, i));
  const isInvalid = (t: string): boolean => t.startsWith(INVALID_PREFIX[job.provider]);
  const send = job.impl === 'herald' ? await heraldSender(job) : await peerSender(job);
  const startCpu = process.cpuUsage();
  const started = performance.now();
  const outcomes = await send(tokens);
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(startCpu);
  let sent = 0;
  let invalid = 0;
  let failures = 0;
  let failureSample: string | undefined;
  outcomes.forEach((o, i) => {
    if (o.ok && !isInvalid(tokens[i])) sent += 1;
    else if (!o.ok && o.invalid && isInvalid(tokens[i])) invalid += 1;
    else {
      failures += 1;
      failureSample ??= o.detail;
    }
  });
  return {
    impl: job.impl,
    provider: job.provider,
    tokens: job.tokens,
    wallMs,
    cpuUs: cpu.user + cpu.system,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    sent,
    invalid,
    failures,
    failureSample,
  };
}

type Outcome = { ok: boolean; invalid?: boolean; detail?: string };
type Sender = (tokens: string[]) => Promise<Outcome[]>;

async function heraldSender(job: ClientJob): Promise<Sender> {
  const p = await import('@herald/providers');
  const c = job.fake.credentials;
  if (job.provider === 'apns') {
    const client = new p.ApnsClient(
      { kind: 'token', key: c.key, keyId: c.keyId, teamId: c.teamId },
      { environment: 'sandbox', endpoint: job.fake.url, ca: [job.fake.ca] },
    );
    const built = p.buildApnsRequest(
      { alert: 'Benchmark' },
      { messageId: '1000000001', bundleId: c.bundleId, nowMs: Date.now() },
    );
    if (!built.ok) throw new Error('payload');
    // Warm the session so connection setup is not billed to the batch (the client is long-lived).
    await client.send([{ token: tokenFor('apns', 1), request: built.request }]);
    return async (tokens) => {
      const out = await client.send(tokens.map((token) => ({ token, request: built.request })));
      return out.map((o) => ({
        ok: o.kind === 'sent',
        invalid: o.kind === 'invalid_token',
        detail: o.kind === 'sent' ? undefined : `${o.kind}:${o.reason}`,
      }));
    };
  }
  const client = new p.FcmClient(
    { project_id: c.project_id, client_email: c.client_email, private_key: c.private_key },
    { endpoint: job.fake.url, ca: [job.fake.ca] },
  );
  const one = (token: string) => {
    const r = p.buildFcmNotification(token, { alert: 'Benchmark' }, { messageId: '1000000001' });
    if (!r.ok) throw new Error('payload');
    return r.message;
  };
  await client.send([one(tokenFor('fcm', 1))]);
  return async (tokens) => {
    // Building each token's message is part of Herald's cost, so it is inside the measurement.
    const out = await client.send(tokens.map(one));
    return out.map((o) => ({
      ok: o.kind === 'sent',
      invalid: o.kind === 'invalid_token',
      detail: o.kind === 'sent' ? undefined : `${o.kind}:${o.reason}`,
    }));
  };
}

async function peerSender(job: ClientJob): Promise<Sender> {
  // @parse/push-adapter is ESM-only; swc would turn import() into require(), so import it natively.
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- a constant string, not user input
  const esmImport = new Function('s', 'return import(s)') as (
    s: string,
  ) => Promise<{ default: new (c: unknown) => PeerAdapter }>;
  const c = job.fake.credentials;
  if (job.provider === 'fcm') {
    // The peer calls initializeApp({credential: cert(account)}) unless a default app exists; give it one
    // that reaches the fake through firebase-admin's public options (Herald's credential + httpAgent).
    const p = await import('@herald/providers');
    const { initializeApp } = await import('firebase-admin/app');
    // The peer can only use firebase-admin's HTTP/1.1 transport here: 64 keep-alive sockets, the pool
    // Herald's FcmClient used before it moved to its own HTTP/2 client.
    const agent = new p.EndpointAgent(job.fake.url, {
      keepAlive: true,
      maxSockets: PEER_FCM_SOCKETS,
      ca: [job.fake.ca],
    });
    const account = { project_id: c.project_id, client_email: c.client_email, private_key: c.private_key };
    initializeApp({
      credential: new p.ServiceAccountCredential(account, agent),
      projectId: c.project_id,
      httpAgent: agent,
    });
  }
  const { default: ParsePushAdapter } = await esmImport('@parse/push-adapter');
  const url = new URL(job.fake.url);
  const adapter =
    job.provider === 'apns'
      ? new ParsePushAdapter({
          ios: {
            token: { key: c.key, keyId: c.keyId, teamId: c.teamId },
            topic: c.bundleId,
            production: false,
            address: url.host,
            port: Number(url.port),
            ca: [job.fake.ca],
            maxSessionMemory: PEER_MAX_SESSION_MEMORY_MB,
          },
        })
      : new ParsePushAdapter({
          android: {
            firebaseServiceAccount: {
              project_id: c.project_id,
              client_email: c.client_email,
              private_key: c.private_key,
            },
            // Its HTTP/2 transport ignores httpAgent and could not reach the fake at all.
            fcmEnableLegacyHttpTransport: true,
          },
        });
  const installation = (token: string) =>
    job.provider === 'apns'
      ? { deviceType: 'ios', deviceToken: token, appIdentifier: c.bundleId }
      : { deviceType: 'android', deviceToken: token };
  await adapter.send({ data: { alert: 'Benchmark' } }, [installation(tokenFor(job.provider, 1))]);
  return async (tokens) => {
    const results = await adapter.send({ data: { alert: 'Benchmark' } }, tokens.map(installation));
    const byToken = new Map<string, PeerResult>();
    for (const r of results) byToken.set(r.device.deviceToken, r);
    return tokens.map((t) => {
      const r = byToken.get(t);
      if (!r) return { ok: false, detail: 'no result' };
      if (r.transmitted) return { ok: true };
      const detail = JSON.stringify(r.response ?? {}).slice(0, 160);
      return {
        ok: false,
        invalid: /Unregistered|not-registered|UNREGISTERED|registration-token/i.test(detail),
        detail,
      };
    });
  };
}

interface PeerResult {
  device: { deviceToken: string };
  transmitted: boolean;
  response?: unknown;
}
interface PeerAdapter {
  send(data: unknown, installations: unknown[]): Promise<PeerResult[]>;
}

// ---------------------------------------------------------------- orchestrator

function startFake(provider: ProviderName): Promise<{ child: ChildProcess; ready: Ready }> {
  const main = join(
    __dirname,
    '../../libs/testing/src/fakes',
    provider === 'apns' ? 'fake-apns.main.ts' : 'fake-fcm.main.ts',
  );
  const child = fork(main, ['--port', '0', '--invalid-prefix', INVALID_PREFIX[provider]], {
    execArgv: REGISTER,
    silent: true,
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve({ child, ready: JSON.parse(buf.slice(0, nl)) as Ready });
    });
    child.once('exit', (code) => reject(new Error(`fake ${provider} exited ${code}`)));
  });
}

let controlSeq = 0;
function control(child: ChildProcess, msg: Record<string, unknown>): Promise<Record<string, unknown>> {
  const id = ++controlSeq;
  return new Promise((resolve) => {
    const onMessage = (m: Record<string, unknown>): void => {
      if (m.id === id) {
        child.off('message', onMessage);
        resolve(m);
      }
    };
    child.on('message', onMessage);
    child.send({ ...msg, id });
  });
}

const ROOT = join(__dirname, '../..');
const BUILD_DIR = join(ROOT, 'node_modules/.cache/herald-bench-providers');

/**
 * Transpiles this file and the libs to plain CommonJS, as the built worker runs them. Running the client
 * under `@swc-node/register` instead adds ~90 MB of RSS (swc's native binding and the TypeScript compiler
 * it loads for tsconfig) and its compile time, which no production process pays. `@herald/<lib>` imports
 * become relative requires of the compiled libs. Returns the compiled entry point.
 */
async function compileClient(): Promise<string> {
  // Loaded here only: the client processes must not load swc.
  const { transformFileSync } = await import('@swc/core');
  const files = [join(ROOT, 'bench/providers/providers.bench.ts')];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith('.ts') && !/\.(int-)?spec\.ts$/.test(e.name)) files.push(path);
    }
  };
  for (const lib of readdirSync(join(ROOT, 'libs')))
    if (lib !== 'testing') walk(join(ROOT, 'libs', lib, 'src'));
  for (const file of files) {
    const out = join(BUILD_DIR, relative(ROOT, file)).replace(/\.ts$/, '.js');
    const { code } = transformFileSync(file, {
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
        keepClassNames: true,
      },
      module: { type: 'commonjs' },
    });
    const aliased = code.replace(/require\("@herald\/([a-z-]+)"\)/g, (_, lib: string) => {
      const index = relative(dirname(out), join(BUILD_DIR, 'libs', lib, 'src/index.js'));
      return `require(${JSON.stringify(index.startsWith('.') ? index : `./${index}`)})`;
    });
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, aliased);
  }
  return join(BUILD_DIR, 'bench/providers/providers.bench.js');
}

let clientEntry: { file: string; execArgv: string[] } = { file: __filename, execArgv: REGISTER };

function runClientProcess(job: ClientJob): Promise<ClientResult> {
  // HERALD_BENCH_CPU_PROF=<dir> writes a V8 CPU profile of each client process (not of the fakes).
  const profDir = process.env.HERALD_BENCH_CPU_PROF;
  const prof = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  // HERALD_BENCH_CLIENT_FLAGS="--max-semi-space-size=32": V8 flags for the client processes only.
  const flags = process.env.HERALD_BENCH_CLIENT_FLAGS?.split(' ').filter(Boolean) ?? [];
  const child = fork(clientEntry.file, [], {
    execArgv: [...clientEntry.execArgv, ...flags, ...prof],
    env: { ...process.env, HERALD_BENCH_ROLE: 'client', HERALD_BENCH_JOB: JSON.stringify(job) },
  });
  return new Promise((resolve, reject) => {
    child.once('message', (m: unknown) => resolve(m as ClientResult));
    child.once('exit', (code) => code !== 0 && reject(new Error(`client exited ${code}`)));
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function orchestrate(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tokens: { type: 'string', default: '50000' },
      runs: { type: 'string', default: '3' },
      // The peer can take minutes per run when it times out; a busy machine may only afford one.
      'peer-runs': { type: 'string' },
      // `--provider apns` or `--provider fcm` runs one side only.
      provider: { type: 'string', default: 'apns,fcm' },
      // Run the client processes under @swc-node/register, as the first providers rows did.
      register: { type: 'boolean', default: false },
    },
  });
  if (!values.register) clientEntry = { file: await compileClient(), execArgv: [] };
  const tokens = Number(values.tokens);
  const runs = Number(values.runs);
  const peerRuns = values['peer-runs'] !== undefined ? Number(values['peer-runs']) : runs;
  process.stdout.write(
    `# providers bench: ${tokens} tokens/run, ${runs} run(s), ${cpus().length}× ${cpus()[0]?.model ?? '?'}, Node ${process.version}\n`,
  );
  const rows: { key: string; results: ClientResult[]; latency: number; fakeCpuUs: number[] }[] = [];
  const providers = (['apns', 'fcm'] as const).filter((p) => values.provider.split(',').includes(p));
  for (const provider of providers) {
    const fake = await startFake(provider);
    for (const latency of [0, 20]) {
      await control(fake.child, { type: 'latency', ms: latency });
      for (const impl of ['herald', 'peer'] as const) {
        const row = {
          key: `${provider} ${latency}ms ${impl}`,
          results: [] as ClientResult[],
          latency,
          fakeCpuUs: [] as number[],
        };
        for (let r = 0; r < (impl === 'peer' ? peerRuns : runs); r++) {
          await control(fake.child, { type: 'reset' });
          const before = (await control(fake.child, { type: 'stats' })).cpu as NodeJS.CpuUsage;
          const result = await runClientProcess({ impl, provider, tokens, fake: fake.ready });
          const after = (await control(fake.child, { type: 'stats' })).cpu as NodeJS.CpuUsage;
          row.fakeCpuUs.push(after.user + after.system - before.user - before.system);
          row.results.push(result);
          process.stderr.write(
            `${row.key} run ${r + 1}: ${Math.round((tokens / result.wallMs) * 1000)} msgs/s, ${(result.cpuUs / tokens).toFixed(1)} µs/msg, ` +
              `${result.maxRssMb.toFixed(0)} MB, failures ${result.failures}${result.failureSample ? ` (${result.failureSample})` : ''}\n`,
          );
        }
        rows.push(row);
      }
    }
    fake.child.kill('SIGTERM');
  }
  process.stdout.write(
    '\n| provider | latency | client | msgs/s | CPU µs/msg | msgs per CPU-s | peak RSS MB | sent | invalid | failures |\n',
  );
  process.stdout.write('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n');
  for (const row of rows) {
    // `--peer-runs 0` measures Herald alone: rows without results print nothing.
    if (row.results.length === 0) continue;
    const [provider, , impl] = row.key.split(' ');
    const rate = median(row.results.map((r) => (r.tokens / r.wallMs) * 1000));
    const cpuPer = median(row.results.map((r) => r.cpuUs / r.tokens));
    const rss = median(row.results.map((r) => r.maxRssMb));
    const failures = Math.max(...row.results.map((r) => r.failures));
    const last = row.results[row.results.length - 1];
    process.stdout.write(
      `| ${provider} | ${row.latency} ms | ${impl === 'herald' ? 'Herald' : '@parse/push-adapter 8.5.5'} | ${Math.round(rate)} | ${cpuPer.toFixed(1)} | ${Math.round(1e6 / cpuPer)} | ${rss.toFixed(0)} | ${last.sent} | ${last.invalid} | ${failures} |\n`,
    );
  }
}

if (process.env.HERALD_BENCH_ROLE === 'client') {
  const job = JSON.parse(process.env.HERALD_BENCH_JOB ?? '{}') as ClientJob;
  runClient(job)
    .then((result) => {
      process.send?.(result, () => process.exit(0));
    })
    .catch((err: unknown) => {
      process.stderr.write(`client failed: ${String(err)}\n`);
      process.exit(1);
    });
} else {
  orchestrate().catch((err: unknown) => {
    process.stderr.write(`bench failed: ${String(err)}\n`);
    process.exit(1);
  });
}
