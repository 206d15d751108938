import { createFakeServiceAccount } from './fake-credentials';
import { FakeFcmServer } from './fake-fcm.server';
import { fakeArgs, serveControl } from './fake-main.util';

/**
 * `npm run fake:fcm -- [--port 8444] [--latency-ms 20] [--invalid-prefix bad] [--goaway-after N]
 * [--plain] [--record] [--credentials service-account.json]`. HTTP/2 and HTTP/1.1 over TLS; `--plain`
 * serves h2c and HTTP/1.1 without TLS. Without `--credentials` it generates a TEST-ONLY service
 * account and prints it. Prints one JSON line when ready; `GET /stats` answers the counters.
 */
async function main(): Promise<void> {
  const args = fakeArgs(8444);
  if (args.help) {
    process.stdout.write(
      'usage: fake-fcm [--port N] [--latency-ms N] [--invalid-prefix P] [--goaway-after N] [--plain] [--record] [--credentials FILE]\n',
    );
    return;
  }
  const fake = await FakeFcmServer.start({
    port: args.port,
    host: args.host,
    tls: !args.plain,
    latencyMs: args.latencyMs,
    invalidTokenPrefix: args.invalidTokenPrefix,
    goawayAfterStreams: args.goawayAfterStreams,
    record: args.record,
  });
  const account =
    (args.credentials as ReturnType<typeof createFakeServiceAccount> | undefined) ??
    createFakeServiceAccount();
  fake.registerServiceAccount(account);
  serveControl(fake);
  process.stdout.write(
    `${JSON.stringify({ ready: true, provider: 'fcm', url: fake.url, ca: fake.ca, credentials: account, note: 'TEST-ONLY account and CA' })}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`fake-fcm failed: ${String(err)}\n`);
  process.exit(1);
});
