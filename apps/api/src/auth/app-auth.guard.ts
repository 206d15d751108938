import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Response } from 'express';
import { HeraldError } from '@herald/common';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { isAppKey, SecretHasher } from '@herald/crypto';
import { AppEntity } from '@herald/db';
import { RateLimiter } from '@herald/platform';
import { AppDirectory } from './app-directory';
import { JPUSH_CODES, JPUSH_FAMILY, type JPushFamily } from './jpush-family';
import type { AppRequest } from './request-context';

/**
 * The developer API's authentication: HTTP Basic `appKey:masterSecret` (the previous secret too,
 * until its overlap window ends), then the app's per-minute quota, whose state every response
 * reports in `X-Rate-Limit-*` as JPush does.
 */
@Injectable()
export class AppAuthGuard implements CanActivate {
  private readonly hasher: SecretHasher;

  constructor(
    private readonly directory: AppDirectory,
    @Inject(HERALD_CONFIG) config: HeraldConfig,
    private readonly limiter: RateLimiter,
    private readonly reflector: Reflector,
  ) {
    this.hasher = new SecretHasher(config.crypto);
  }

  /** The previous secret, while its overlap window lasts. */
  private verifiesPrevious(app: AppEntity, secret: string): boolean {
    return (
      app.previousSecretHash !== null &&
      app.previousSecretExpiresAt !== null &&
      app.previousSecretExpiresAt.getTime() > Date.now() &&
      this.hasher.verify(secret, app.previousSecretHash)
    );
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const family =
      this.reflector.getAllAndOverride<JPushFamily | undefined>(JPUSH_FAMILY, [
        context.getHandler(),
        context.getClass(),
      ]) ?? 'push';
    const codes = JPUSH_CODES[family];
    const req = context.switchToHttp().getRequest<AppRequest>();
    const res = context.switchToHttp().getResponse<Response>();

    const header = req.headers.authorization;
    if (!header || !/^Basic\s+/i.test(header)) {
      throw new HeraldError('unauthorized', 'missing HTTP Basic authentication (appKey:masterSecret)', {
        jpushCode: codes.missingAuth,
        headers: { 'WWW-Authenticate': 'Basic realm="herald"' },
      });
    }
    const decoded = Buffer.from(header.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const appKey = colon < 0 ? '' : decoded.slice(0, colon);
    const secret = colon < 0 ? '' : decoded.slice(colon + 1);
    const fail = () =>
      new HeraldError('unauthorized', 'authentication failed: wrong appKey or masterSecret', {
        jpushCode: codes.badAuth,
      });
    if (!isAppKey(appKey) || secret.length === 0) throw fail();

    // The app comes from the 10 s app-key cache. A secret that is not the cached copy's current one
    // is checked against a fresh read of the app: a secret rotated by another process works (within a
    // second: wrong secrets re-read an app at most once a second, however many arrive, as app keys are
    // public), and a previous secret is honoured only while the database still says so. A secret the
    // dashboard rotates out stops at once in every process (its `forget` is published on Redis); only
    // a process that missed that message keeps the old copy, for the rest of its 10 s.
    let app = await this.directory.byKey(appKey);
    // One keyed hash per request on the common path (the cached copy's current secret). An unknown
    // key is cached as unknown too: repeating it does not read the database each time.
    if (!app) throw fail();
    if (!this.hasher.verify(secret, app.masterSecretHash)) {
      // The cached copy's previous secret is confirmed against the database every time (its window
      // may have been cut short); any other secret re-reads the app at most once a second.
      const previous = this.verifiesPrevious(app, secret);
      if (previous) this.directory.forget(appKey);
      const fresh = previous ? await this.directory.byKey(appKey) : await this.directory.refresh(appKey);
      // The same cached copy (re-read less than a second ago) was checked just now: refuse at once.
      if (
        !fresh ||
        fresh === app ||
        !(this.hasher.verify(secret, fresh.masterSecretHash) || this.verifiesPrevious(fresh, secret))
      ) {
        throw fail();
      }
      app = fresh;
    }

    const quota = await this.limiter.hit(`app:${app.id}`, app.rateLimitPerMinute);
    const resetIn = String(Math.max(0, quota.resetAt - Math.floor(Date.now() / 1000)));
    res.setHeader('X-Rate-Limit-Limit', String(quota.limit));
    res.setHeader('X-Rate-Limit-Remaining', String(quota.remaining));
    res.setHeader('X-Rate-Limit-Reset', resetIn);
    if (!quota.allowed) {
      throw new HeraldError('rate_limited', `over the app's limit of ${quota.limit} requests per minute`, {
        headers: { 'Retry-After': resetIn },
      });
    }
    req.heraldApp = app;
    return true;
  }
}
