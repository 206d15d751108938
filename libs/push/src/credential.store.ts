import type { DataSource, EntityManager } from 'typeorm';
import type { EnvelopeCipher } from '@herald/crypto';
import {
  apnsFingerprint,
  fcmFingerprint,
  type ApnsCredentials,
  type ApnsEnvironment,
  type FcmServiceAccount,
} from '@herald/providers';

export interface StoredApns {
  credentials: ApnsCredentials;
  bundleId: string;
  fingerprint: string;
}

export interface StoredFcm {
  account: FcmServiceAccount;
  fingerprint: string;
}

/** An app's provider credentials, decrypted, as the send path needs them. */
export interface AppCredentials {
  apns: Partial<Record<ApnsEnvironment, StoredApns>>;
  fcm?: StoredFcm;
}

type ApnsSecret =
  | { kind: 'token'; key: string; keyId: string; teamId: string }
  | { kind: 'certificate'; pfx: string; passphrase?: string };

interface Row {
  provider: 'apns' | 'fcm';
  environment: 'sandbox' | 'production' | 'both';
  encrypted_payload: string;
  bundle_id: string | null;
  fingerprint: string | null;
}

/** The AAD binds each envelope to its slot: a payload copied to another app or slot fails to decrypt. */
const aad = (appId: string, provider: string, environment: string) =>
  `app_credentials:${appId}:${provider}:${environment}`;

/**
 * Provider credentials at rest (`app_credentials`): envelope-encrypted with the configured master key,
 * one row per (app, provider, environment) slot; an APNs credential valid for both environments is
 * stored once as `both`. Validation belongs to the caller (the dashboard validates on upload).
 */
export class CredentialStore {
  constructor(
    private readonly db: DataSource | EntityManager,
    private readonly cipher: EnvelopeCipher,
  ) {}

  async saveApns(
    appId: string,
    environment: ApnsEnvironment | 'both',
    credentials: ApnsCredentials,
    bundleId: string,
  ): Promise<void> {
    const secret: ApnsSecret =
      credentials.kind === 'token'
        ? { kind: 'token', key: credentials.key, keyId: credentials.keyId, teamId: credentials.teamId }
        : {
            kind: 'certificate',
            pfx: credentials.pfx.toString('base64'),
            ...(credentials.passphrase !== undefined && { passphrase: credentials.passphrase }),
          };
    // A `both` credential replaces per-environment ones and vice versa: one credential per environment.
    await this.db.query(
      `DELETE FROM app_credentials WHERE app_id = $1 AND provider = 'apns'
          AND (environment = 'both' OR $2 = 'both' OR environment = $2)`,
      [appId, environment],
    );
    await this.db.query(
      `INSERT INTO app_credentials (app_id, provider, auth_type, environment, encrypted_payload,
                                    apns_key_id, team_id, bundle_id, fingerprint, validated_at)
       VALUES ($1, 'apns', $2, $3, $4, $5, $6, $7, $8, now())`,
      [
        appId,
        credentials.kind,
        environment,
        this.cipher.encrypt(JSON.stringify(secret), aad(appId, 'apns', environment)),
        credentials.kind === 'token' ? credentials.keyId : null,
        credentials.kind === 'token' ? credentials.teamId : null,
        bundleId,
        apnsFingerprint(credentials),
      ],
    );
  }

  async saveFcm(appId: string, account: FcmServiceAccount): Promise<void> {
    await this.db.query(
      `INSERT INTO app_credentials (app_id, provider, auth_type, environment, encrypted_payload,
                                    project_id, fingerprint, validated_at)
       VALUES ($1, 'fcm', 'service_account', 'both', $2, $3, $4, now())
       ON CONFLICT (app_id, provider, environment) DO UPDATE
         SET encrypted_payload = excluded.encrypted_payload, project_id = excluded.project_id,
             fingerprint = excluded.fingerprint, validated_at = now(), updated_at = now()`,
      [
        appId,
        this.cipher.encrypt(JSON.stringify(account), aad(appId, 'fcm', 'both')),
        account.project_id,
        fcmFingerprint(account),
      ],
    );
  }

  async load(appId: string): Promise<AppCredentials> {
    const rows = await this.db.query<Row[]>(
      `SELECT provider, environment, encrypted_payload, bundle_id, fingerprint
         FROM app_credentials WHERE app_id = $1`,
      [appId],
    );
    const out: AppCredentials = { apns: {} };
    for (const row of rows) {
      const plain = this.cipher
        .decrypt(row.encrypted_payload, aad(appId, row.provider, row.environment))
        .toString('utf8');
      if (row.provider === 'fcm') {
        const account = JSON.parse(plain) as FcmServiceAccount;
        out.fcm = { account, fingerprint: row.fingerprint ?? fcmFingerprint(account) };
        continue;
      }
      const secret = JSON.parse(plain) as ApnsSecret;
      const credentials: ApnsCredentials =
        secret.kind === 'token'
          ? secret
          : {
              kind: 'certificate',
              pfx: Buffer.from(secret.pfx, 'base64'),
              ...(secret.passphrase !== undefined && { passphrase: secret.passphrase }),
            };
      const stored: StoredApns = {
        credentials,
        bundleId: row.bundle_id ?? '',
        fingerprint: row.fingerprint ?? apnsFingerprint(credentials),
      };
      if (row.environment === 'both') {
        out.apns.sandbox ??= stored;
        out.apns.production ??= stored;
      } else {
        out.apns[row.environment] = stored;
      }
    }
    return out;
  }
}
