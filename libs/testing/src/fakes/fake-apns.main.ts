import { createFakeApnsKey } from './fake-credentials';
import { FakeApnsServer } from './fake-apns.server';
import { fakeArgs, serveControl } from './fake-main.util';

/**
 * `npm run fake:apns -- [--port 8443] [--latency-ms 20] [--invalid-prefix ff] [--goaway-after N]
 * [--record] [--credentials key.json]`. Without `--credentials` it generates a TEST-ONLY key and prints
 * it, so a demo can configure Herald with it. Prints one JSON line when ready; `GET /stats` over h2.
 */
async function main(): Promise<void> {
  const args = fakeArgs(8443);
  if (args.help) {
    process.stdout.write(
      'usage: fake-apns [--port N] [--latency-ms N] [--invalid-prefix HEX] [--goaway-after N] [--record] [--credentials FILE]\n',
    );
    return;
  }
  const fake = await FakeApnsServer.start({
    port: args.port,
    host: args.host,
    latencyMs: args.latencyMs,
    invalidTokenPrefix: args.invalidTokenPrefix,
    goawayAfterStreams: args.goawayAfterStreams,
    record: args.record,
  });
  const key = (args.credentials as ReturnType<typeof createFakeApnsKey> | undefined) ?? createFakeApnsKey();
  fake.registerKey(key);
  serveControl(fake);
  process.stdout.write(
    `${JSON.stringify({ ready: true, provider: 'apns', url: fake.url, ca: fake.ca, credentials: key, note: 'TEST-ONLY key and CA' })}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`fake-apns failed: ${String(err)}\n`);
  process.exit(1);
});
