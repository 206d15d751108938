import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  apnsFingerprint,
  validateApnsCertificate,
  validateApnsTokenKey,
  validateFcmServiceAccount,
} from './credentials.validator';

const certDir = join(__dirname, '../../testing/src/fakes/certs');
const ecKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();

describe('validateApnsTokenKey', () => {
  it('accepts a P-256 key with 10-character ids and returns metadata without the key', () => {
    const check = validateApnsTokenKey({
      key: ecKey,
      keyId: 'ABC123DEFG',
      teamId: 'TEAM123456',
      bundleId: 'com.herald.demo',
    });
    if (!check.ok) throw new Error(check.errors.join());
    expect(check.metadata).toMatchObject({
      provider: 'apns',
      kind: 'token',
      keyId: 'ABC123DEFG',
      teamId: 'TEAM123456',
    });
    expect(check.metadata.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(check.metadata)).not.toContain('PRIVATE');
  });

  it('names every bad field and never echoes the key', () => {
    const check = validateApnsTokenKey({
      key: rsaKey,
      keyId: 'abc',
      teamId: 'TEAM12345678',
      bundleId: 'x y',
    });
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect(check.errors).toEqual([
      'keyId must be 10 characters [A-Z0-9]',
      'teamId must be 10 characters [A-Z0-9]',
      'bundleId is not a bundle identifier',
      'key must be an EC P-256 key (an APNs .p8 file)',
    ]);
    expect(
      validateApnsTokenKey({ key: 'not a key', keyId: 'ABC123DEFG', teamId: 'TEAM123456', bundleId: 'a.b' }),
    ).toEqual({
      ok: false,
      errors: ['key is not a PEM private key'],
    });
  });

  it('fingerprints the same key the same way and different keys differently', () => {
    const a = apnsFingerprint({ kind: 'token', key: ecKey, keyId: 'ABC123DEFG', teamId: 'TEAM123456' });
    expect(apnsFingerprint({ kind: 'token', key: ecKey, keyId: 'ABC123DEFG', teamId: 'TEAM123456' })).toBe(a);
    expect(
      apnsFingerprint({ kind: 'token', key: ecKey, keyId: 'ZZZ123DEFG', teamId: 'TEAM123456' }),
    ).not.toBe(a);
  });
});

describe('validateApnsCertificate', () => {
  const pfx = readFileSync(join(certDir, 'apns-client.p12'));

  it('opens the .p12 with its passphrase and reads topic and expiry', () => {
    const check = validateApnsCertificate({ pfx, passphrase: 'herald-test', bundleId: 'com.herald.demo' });
    if (!check.ok) throw new Error(check.errors.join());
    expect(check.metadata).toMatchObject({
      kind: 'certificate',
      bundleId: 'com.herald.demo',
      certificateEnvironment: 'both',
    });
    expect(check.metadata.certificateExpiresAt?.getUTCFullYear()).toBe(2051);
  });

  it('refuses a wrong passphrase, a topic mismatch, an expired certificate and a non-p12', () => {
    expect(validateApnsCertificate({ pfx, passphrase: 'wrong' })).toEqual({
      ok: false,
      errors: ['passphrase does not open the .p12'],
    });
    expect(validateApnsCertificate({ pfx, passphrase: 'herald-test', bundleId: 'com.other' })).toMatchObject({
      ok: false,
    });
    expect(validateApnsCertificate({ pfx, passphrase: 'herald-test' }, new Date('2060-01-01'))).toMatchObject(
      { ok: false },
    );
    expect(validateApnsCertificate({ pfx: Buffer.from('nope') })).toMatchObject({ ok: false });
  });
});

describe('validateFcmServiceAccount', () => {
  const account = {
    type: 'service_account',
    project_id: 'herald-demo',
    client_email: 'push@herald-demo.iam.gserviceaccount.com',
    private_key: rsaKey,
  };

  it('accepts JSON text or an object and returns project and e-mail only', () => {
    const check = validateFcmServiceAccount(JSON.stringify(account));
    if (!check.ok) throw new Error(check.errors.join());
    expect(check.metadata).toMatchObject({
      provider: 'fcm',
      projectId: 'herald-demo',
      clientEmail: account.client_email,
    });
    expect(JSON.stringify(check.metadata)).not.toContain('PRIVATE');
  });

  it('names what is missing or unparsable', () => {
    expect(validateFcmServiceAccount('{')).toEqual({ ok: false, errors: ['service account is not JSON'] });
    expect(validateFcmServiceAccount({ ...account, project_id: undefined, private_key: 'garbage' })).toEqual({
      ok: false,
      errors: ['project_id is missing or malformed', 'private_key is missing or not a PEM private key'],
    });
  });
});
