/** A `.p8` signing key with the ids Apple issued it under. */
export interface ApnsTokenCredentials {
  kind: 'token';
  /** PEM text of the `.p8` file. */
  key: string;
  keyId: string;
  teamId: string;
}

/** A `.p12` APNs certificate (client-certificate TLS). */
export interface ApnsCertificateCredentials {
  kind: 'certificate';
  pfx: Buffer;
  passphrase?: string;
}

export type ApnsCredentials = ApnsTokenCredentials | ApnsCertificateCredentials;

/** The fields of a Google service-account JSON file that FCM needs. */
export interface FcmServiceAccount {
  project_id: string;
  client_email: string;
  private_key: string;
  private_key_id?: string;
}

/** What Herald may store and show about a credential: never the secret itself. */
export interface CredentialMetadata {
  provider: 'apns' | 'fcm';
  kind: 'token' | 'certificate' | 'service_account';
  keyId?: string;
  teamId?: string;
  bundleId?: string;
  projectId?: string;
  clientEmail?: string;
  certificateSubject?: string;
  certificateExpiresAt?: Date;
  /** `sandbox` for Apple's development-only certificates, `both` for universal ones. */
  certificateEnvironment?: 'sandbox' | 'both';
  /** sha256 (hex) over public material: stable per credential, safe to log and to key caches by. */
  fingerprint: string;
}

export type CredentialCheck = { ok: true; metadata: CredentialMetadata } | { ok: false; errors: string[] };
