import { generateKeyPairSync } from 'node:crypto';

/** A freshly generated `.p8`-style key with Apple-shaped ids, and its public half for the fake. */
export interface FakeApnsKey {
  key: string;
  publicKey: string;
  keyId: string;
  teamId: string;
  bundleId: string;
}

/** A freshly generated service account, and its public half for the fake's token endpoint. */
export interface FakeServiceAccount {
  type: 'service_account';
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  publicKey: string;
}

let seq = 0;

function appleId(prefix: string): string {
  seq += 1;
  return `${prefix}${String(seq).padStart(10 - prefix.length, '0')}`.slice(0, 10);
}

export function createFakeApnsKey(bundleId = 'com.herald.demo'): FakeApnsKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: appleId('KEY'),
    teamId: appleId('TEAM'),
    bundleId,
  };
}

export function createFakeServiceAccount(projectId = 'herald-demo'): FakeServiceAccount {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  seq += 1;
  return {
    type: 'service_account',
    project_id: projectId,
    private_key_id: `fake-key-${seq}`,
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: `herald-${seq}@${projectId}.iam.gserviceaccount.com`,
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}
