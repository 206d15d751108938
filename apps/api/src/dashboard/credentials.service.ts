import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Request } from 'express';
import type { DataSource } from 'typeorm';
import { HeraldError } from '@herald/common';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { EnvelopeCipher } from '@herald/crypto';
import type { AppEntity, CredentialEnvironment } from '@herald/db';
import {
  validateApnsCertificate,
  validateApnsTokenKey,
  validateFcmServiceAccount,
  type ApnsCredentials,
  type CredentialCheck,
  type CredentialMetadata,
  type FcmServiceAccount,
} from '@herald/providers';
import { CredentialStore, parsePushRequest } from '@herald/push';
import { PushService } from '../push/push.service';
import { actorOf, AuditService } from './audit.service';
import type { DashboardPrincipal } from './auth/dashboard-request';
import { changed, iso, notFound } from './dashboard.http';

export type ApnsUpload =
  | {
      environment: CredentialEnvironment;
      auth: 'token';
      key_id: string;
      team_id: string;
      bundle_id: string;
      key: string;
    }
  | {
      environment: CredentialEnvironment;
      auth: 'certificate';
      p12: string;
      passphrase?: string;
      bundle_id?: string;
    };

/** What `GET …/credentials` shows: public metadata only, never key material. */
export interface CredentialView {
  provider: 'apns' | 'fcm';
  environment: CredentialEnvironment;
  kind: 'token' | 'certificate' | 'service_account';
  key_id: string | null;
  team_id: string | null;
  bundle_id: string | null;
  project_id: string | null;
  certificate_expires_at: string | null;
  fingerprint: string | null;
  validated_at: string | null;
  updated_at: string;
}

interface CredentialRow {
  provider: 'apns' | 'fcm';
  environment: CredentialEnvironment;
  auth_type: CredentialView['kind'];
  apns_key_id: string | null;
  team_id: string | null;
  bundle_id: string | null;
  project_id: string | null;
  certificate_expires_at: Date | null;
  fingerprint: string | null;
  validated_at: Date | null;
  updated_at: Date;
}

const SELECT_VIEW = `SELECT provider, environment, auth_type, apns_key_id, team_id, bundle_id, project_id,
                            certificate_expires_at, fingerprint, validated_at, updated_at
                       FROM app_credentials`;

const toView = (r: CredentialRow): CredentialView => ({
  provider: r.provider,
  environment: r.environment,
  kind: r.auth_type,
  key_id: r.apns_key_id,
  team_id: r.team_id,
  bundle_id: r.bundle_id,
  project_id: r.project_id,
  certificate_expires_at: iso(r.certificate_expires_at),
  fingerprint: r.fingerprint,
  validated_at: iso(r.validated_at),
  updated_at: iso(r.updated_at)!,
});

/** A failed check answers 400 with every problem the validator found (none of them echo the key). */
function accepted(check: CredentialCheck): CredentialMetadata {
  if (check.ok) return check.metadata;
  throw new HeraldError('invalid_parameter', `credential rejected: ${check.errors.join('; ')}`, {
    details: { errors: check.errors },
  });
}

/**
 * Provider credentials: validated by `@herald/providers` on upload, envelope-encrypted by the push
 * library's `CredentialStore`, shown back as metadata only. The test send goes through the same
 * accept path as `POST /v3/push`, marked `source: test`.
 */
@Injectable()
export class CredentialsService {
  private readonly cipher: EnvelopeCipher;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(HERALD_CONFIG) config: HeraldConfig,
    private readonly audit: AuditService,
    private readonly push: PushService,
  ) {
    this.cipher = new EnvelopeCipher(config.crypto);
  }

  async list(app: AppEntity): Promise<{ items: CredentialView[] }> {
    const rows = await this.db.query<CredentialRow[]>(
      `${SELECT_VIEW} WHERE app_id = $1 ORDER BY provider, environment`,
      [app.id],
    );
    return { items: rows.map(toView) };
  }

  async putApns(
    req: Request,
    p: DashboardPrincipal,
    app: AppEntity,
    body: ApnsUpload,
  ): Promise<CredentialView> {
    let credentials: ApnsCredentials;
    let metadata: CredentialMetadata;
    if (body.auth === 'token') {
      metadata = accepted(
        validateApnsTokenKey({
          key: body.key,
          keyId: body.key_id,
          teamId: body.team_id,
          bundleId: body.bundle_id,
        }),
      );
      credentials = { kind: 'token', key: body.key, keyId: body.key_id, teamId: body.team_id };
    } else {
      const pfx = Buffer.from(body.p12, 'base64');
      metadata = accepted(
        validateApnsCertificate({ pfx, passphrase: body.passphrase, bundleId: body.bundle_id }),
      );
      if (metadata.certificateEnvironment === 'sandbox' && body.environment !== 'sandbox') {
        throw new HeraldError(
          'invalid_parameter',
          'credential rejected: this is a development (sandbox-only) certificate; upload it for environment sandbox',
          { details: { errors: ['certificate is sandbox-only'] } },
        );
      }
      credentials = {
        kind: 'certificate',
        pfx,
        ...(body.passphrase !== undefined && { passphrase: body.passphrase }),
      };
    }
    await this.db.transaction(async (tx) => {
      await new CredentialStore(tx, this.cipher).saveApns(
        app.id,
        body.environment,
        credentials,
        metadata.bundleId!,
      );
      // The store keeps the secret; what only the validator knows (expiry, a certificate's team) is added here.
      await tx.query(
        `UPDATE app_credentials SET certificate_expires_at = $3, team_id = COALESCE(team_id, $4)
          WHERE app_id = $1 AND provider = 'apns' AND environment = $2`,
        [app.id, body.environment, metadata.certificateExpiresAt ?? null, metadata.teamId ?? null],
      );
      await this.audit.record(
        req,
        actorOf(p),
        {
          action: 'credential.apns.put',
          appId: app.id,
          targetType: 'credential',
          targetId: `apns:${body.environment}`,
          details: {
            kind: metadata.kind,
            environment: body.environment,
            key_id: metadata.keyId ?? null,
            bundle_id: metadata.bundleId ?? null,
            fingerprint: metadata.fingerprint,
          },
        },
        tx,
      );
    });
    return this.one(app.id, 'apns', body.environment);
  }

  async putFcm(
    req: Request,
    p: DashboardPrincipal,
    app: AppEntity,
    serviceAccount: unknown,
  ): Promise<CredentialView> {
    const metadata = accepted(validateFcmServiceAccount(serviceAccount));
    const account = serviceAccount as FcmServiceAccount;
    // Only the fields FCM needs are kept: a key file's other fields are not ours to store.
    const stored: FcmServiceAccount = {
      project_id: account.project_id,
      client_email: account.client_email,
      private_key: account.private_key,
      ...(typeof account.private_key_id === 'string' && { private_key_id: account.private_key_id }),
    };
    await this.db.transaction(async (tx) => {
      await new CredentialStore(tx, this.cipher).saveFcm(app.id, stored);
      await this.audit.record(
        req,
        actorOf(p),
        {
          action: 'credential.fcm.put',
          appId: app.id,
          targetType: 'credential',
          targetId: 'fcm:both',
          details: {
            project_id: metadata.projectId,
            client_email: metadata.clientEmail,
            fingerprint: metadata.fingerprint,
          },
        },
        tx,
      );
    });
    return this.one(app.id, 'fcm', 'both');
  }

  async remove(
    req: Request,
    p: DashboardPrincipal,
    app: AppEntity,
    provider: 'apns' | 'fcm',
    environment: CredentialEnvironment | undefined,
  ): Promise<void> {
    const rows = await changed(
      this.db,
      `DELETE FROM app_credentials WHERE app_id = $1 AND provider = $2 AND ($3::text IS NULL OR environment = $3)
       RETURNING environment`,
      [app.id, provider, environment ?? null],
    );
    if (rows.length === 0)
      throw notFound('credential', environment ? `${provider}:${environment}` : provider);
    await this.audit.record(req, actorOf(p), {
      action: `credential.${provider}.delete`,
      appId: app.id,
      targetType: 'credential',
      targetId: environment ? `${provider}:${environment}` : provider,
    });
  }

  /** One real push to one device of this app, through the normal pipeline (`source: test`). */
  async testSend(
    req: Request,
    p: DashboardPrincipal,
    app: AppEntity,
    input: { registration_id: string; alert?: string; title?: string },
  ): Promise<{ msg_id: string; channel: string }> {
    const [device] = await this.db.query<{ channel: 'apns' | 'fcm' | 'gateway'; status: string }[]>(
      `SELECT channel, status FROM devices WHERE app_id = $1 AND registration_id = $2`,
      [app.id, input.registration_id],
    );
    if (!device) throw notFound('device', input.registration_id);
    if (device.status !== 'active') {
      throw new HeraldError('invalid_parameter', `device is ${device.status}: it cannot receive pushes`);
    }
    if (device.channel !== 'gateway') {
      const creds = await this.db.query<unknown[]>(
        `SELECT 1 FROM app_credentials WHERE app_id = $1 AND provider = $2`,
        [app.id, device.channel],
      );
      if (creds.length === 0) {
        throw new HeraldError(
          'invalid_parameter',
          `no ${device.channel === 'apns' ? 'APNs' : 'FCM'} credential uploaded for this app`,
        );
      }
    }
    const spec = parsePushRequest(
      {
        platform: 'all',
        audience: { registration_id: [input.registration_id] },
        notification: {
          alert: input.alert ?? 'Herald test notification',
          ...(input.title && {
            android: { alert: input.alert ?? 'Herald test notification', title: input.title },
          }),
        },
      },
      { appKey: app.appKey },
    );
    const result = await this.push.accept(app, spec, {
      source: 'test',
      correlationId: typeof req.id === 'string' ? req.id : undefined,
    });
    await this.audit.record(req, actorOf(p), {
      action: 'credential.test_send',
      appId: app.id,
      targetType: 'message',
      targetId: result.msg_id,
      details: { registration_id: input.registration_id, channel: device.channel },
    });
    return { msg_id: result.msg_id, channel: device.channel };
  }

  private async one(appId: string, provider: 'apns' | 'fcm', environment: CredentialEnvironment) {
    const [row] = await this.db.query<CredentialRow[]>(
      `${SELECT_VIEW} WHERE app_id = $1 AND provider = $2 AND environment = $3`,
      [appId, provider, environment],
    );
    return toView(row);
  }
}
