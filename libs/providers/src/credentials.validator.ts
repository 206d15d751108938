import { createHash, createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { createSecureContext, TLSSocket } from 'node:tls';
import type {
  ApnsCredentials,
  ApnsTokenCredentials,
  CredentialCheck,
  FcmServiceAccount,
} from './credentials.types';

const APPLE_ID = /^[A-Z0-9]{10}$/;
const BUNDLE_ID = /^[A-Za-z0-9.-]+$/;

/**
 * Validates an uploaded `.p8` key. Error texts name the field and never echo the key or parts of it.
 */
export function validateApnsTokenKey(input: {
  key: string;
  keyId: string;
  teamId: string;
  bundleId: string;
}): CredentialCheck {
  const errors: string[] = [];
  if (!APPLE_ID.test(input.keyId)) errors.push('keyId must be 10 characters [A-Z0-9]');
  if (!APPLE_ID.test(input.teamId)) errors.push('teamId must be 10 characters [A-Z0-9]');
  if (!BUNDLE_ID.test(input.bundleId)) errors.push('bundleId is not a bundle identifier');
  const key = privateKeyOrUndefined(input.key);
  if (!key) errors.push('key is not a PEM private key');
  else if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    errors.push('key must be an EC P-256 key (an APNs .p8 file)');
  }
  if (errors.length > 0 || !key) return { ok: false, errors };
  return {
    ok: true,
    metadata: {
      provider: 'apns',
      kind: 'token',
      keyId: input.keyId,
      teamId: input.teamId,
      bundleId: input.bundleId,
      fingerprint: apnsFingerprint({
        kind: 'token',
        key: input.key,
        keyId: input.keyId,
        teamId: input.teamId,
      }),
    },
  };
}

/**
 * Opens a `.p12` with its passphrase through Node's own TLS (OpenSSL), so no PKCS#12 parser is needed,
 * and reads the APNs topic (the subject's UID) and the expiry. An expired certificate is refused.
 */
export function validateApnsCertificate(
  input: { pfx: Buffer; passphrase?: string; bundleId?: string },
  now: Date = new Date(),
): CredentialCheck {
  let cert: X509Certificate;
  try {
    cert = certificateOf(input.pfx, input.passphrase);
  } catch (err) {
    // Duck-typed: errors from Node's TLS layer may come from another realm (jest's VM) than `Error`.
    const text = String((err as { message?: unknown } | undefined)?.message ?? err);
    const wrongPassphrase = /mac verify|bad decrypt|password/i.test(text);
    return {
      ok: false,
      errors: [
        wrongPassphrase ? 'passphrase does not open the .p12' : 'file is not a PKCS#12 (.p12) certificate',
      ],
    };
  }
  const subject = parseSubject(cert.subject);
  const topic = subject.UID;
  const errors: string[] = [];
  if (!topic) errors.push('certificate has no APNs topic (subject UID): not an APNs certificate');
  if (input.bundleId && topic && input.bundleId !== topic) {
    errors.push(`certificate topic ${topic} does not match bundleId ${input.bundleId}`);
  }
  const expiresAt = new Date(cert.validTo);
  if (expiresAt.getTime() <= now.getTime()) errors.push(`certificate expired at ${expiresAt.toISOString()}`);
  if (errors.length > 0) return { ok: false, errors };
  const cn = subject.CN ?? '';
  return {
    ok: true,
    metadata: {
      provider: 'apns',
      kind: 'certificate',
      bundleId: topic,
      teamId: subject.OU,
      certificateSubject: cn,
      certificateExpiresAt: expiresAt,
      certificateEnvironment: /development/i.test(cn) ? 'sandbox' : 'both',
      fingerprint: sha256(['apns-certificate', cert.raw]),
    },
  };
}

/** Validates a service-account JSON (text or parsed). */
export function validateFcmServiceAccount(input: unknown): CredentialCheck {
  let sa: unknown = input;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    try {
      sa = JSON.parse(input.toString());
    } catch {
      return { ok: false, errors: ['service account is not JSON'] };
    }
  }
  if (typeof sa !== 'object' || sa === null)
    return { ok: false, errors: ['service account is not an object'] };
  const o = sa as Record<string, unknown>;
  const errors: string[] = [];
  if (o.type !== undefined && o.type !== 'service_account') errors.push('type must be "service_account"');
  if (typeof o.project_id !== 'string' || !/^[a-z][a-z0-9-]{4,61}[a-z0-9]$/.test(o.project_id)) {
    errors.push('project_id is missing or malformed');
  }
  if (typeof o.client_email !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(o.client_email)) {
    errors.push('client_email is missing or malformed');
  }
  const key = typeof o.private_key === 'string' ? privateKeyOrUndefined(o.private_key) : undefined;
  if (!key) errors.push('private_key is missing or not a PEM private key');
  else if (key.asymmetricKeyType !== 'rsa') errors.push('private_key must be an RSA key');
  if (errors.length > 0) return { ok: false, errors };
  const account = o as unknown as FcmServiceAccount;
  return {
    ok: true,
    metadata: {
      provider: 'fcm',
      kind: 'service_account',
      projectId: account.project_id,
      clientEmail: account.client_email,
      fingerprint: fcmFingerprint(account),
    },
  };
}

/** Cache key for an APNs credential set: public material only. */
export function apnsFingerprint(credentials: ApnsCredentials): string {
  if (credentials.kind === 'certificate') {
    return sha256(['apns-certificate', certificateOf(credentials.pfx, credentials.passphrase).raw]);
  }
  return sha256(['apns-token', credentials.keyId, credentials.teamId, spki(credentials)]);
}

export function fcmFingerprint(account: FcmServiceAccount): string {
  const key = privateKeyOrUndefined(account.private_key);
  return sha256([
    'fcm',
    account.project_id,
    account.client_email,
    key ? createPublicKey(key).export({ type: 'spki', format: 'der' }) : '',
  ]);
}

function spki(credentials: ApnsTokenCredentials): Buffer | string {
  const key = privateKeyOrUndefined(credentials.key);
  return key ? createPublicKey(key).export({ type: 'spki', format: 'der' }) : '';
}

function certificateOf(pfx: Buffer, passphrase: string | undefined): X509Certificate {
  const context = createSecureContext({ pfx, passphrase: passphrase ?? '' });
  const socket = new TLSSocket(null as never, { secureContext: context, isServer: true });
  try {
    const local = socket.getCertificate();
    if (!local || !('raw' in local)) throw new Error('no certificate in the .p12');
    return new X509Certificate(local.raw);
  } finally {
    socket.destroy();
  }
}

function privateKeyOrUndefined(pem: string): KeyObject | undefined {
  try {
    return createPrivateKey(pem);
  } catch {
    return undefined;
  }
}

function parseSubject(subject: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of subject.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

function sha256(parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(p);
    h.update('\0');
  }
  return h.digest('hex');
}
