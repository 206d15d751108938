import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * TEST-ONLY TLS material for the fake providers (see certs/README.md). Clients trust `ca` through
 * their public options; nothing here may be used outside tests, demos and benchmarks.
 */
export interface TestCerts {
  ca: string;
  cert: string;
  key: string;
  /** An APNs-style client certificate for the topic `com.herald.demo`. */
  apnsClientP12: Buffer;
  apnsClientPassphrase: string;
  apnsClientTopic: string;
}

let cached: TestCerts | undefined;

export function testCerts(): TestCerts {
  const dir = join(__dirname, 'certs');
  cached ??= {
    ca: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    cert: readFileSync(join(dir, 'server.pem'), 'utf8'),
    key: readFileSync(join(dir, 'server-key.pem'), 'utf8'),
    apnsClientP12: readFileSync(join(dir, 'apns-client.p12')),
    apnsClientPassphrase: 'herald-test',
    apnsClientTopic: 'com.herald.demo',
  };
  return cached;
}
