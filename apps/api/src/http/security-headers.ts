import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';

type Directives = Record<string, string[]>;

/**
 * The console (apps/console, a Vite build): its script and stylesheet are files under /console/assets
 * (no inline script or `<style>`; React sets styles through the DOM, which CSP allows), its favicon is
 * `data:,`, and it talks only to this origin's API. Nothing may frame it (clickjacking).
 */
export const CONSOLE_CSP: Directives = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

/** Swagger UI at /docs: its page has inline `<style>` blocks and its CSS uses `data:` images. */
export const DOCS_CSP: Directives = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'", "'unsafe-inline'"],
  imgSrc: ["'self'", 'data:'],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

/** Everything else is JSON (or text) for programs: a browser that renders one anyway runs nothing. */
export const API_CSP: Directives = {
  defaultSrc: ["'none'"],
  frameAncestors: ["'none'"],
};

const csp = (directives: Directives) => helmet.contentSecurityPolicy({ useDefaults: false, directives });

/** True for `prefix` itself and every path under it; case-insensitive, as Express's mount paths are. */
function under(path: string, prefix: string): boolean {
  const p = path.toLowerCase();
  return p === prefix || p.startsWith(`${prefix}/`);
}

/**
 * Security headers on every answer, set before any route runs (errors and 404s included). Helmet's
 * defaults (nosniff, Cross-Origin-Opener/Resource-Policy, Origin-Agent-Cluster, …) with:
 * `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer` (console URLs carry app ids and invitation
 * tokens), no HSTS (TLS is the proxy's business: it sets HSTS where HTTPS is actually served), and a
 * Content-Security-Policy per kind of page. API answers also default to `Cache-Control: no-store`:
 * they carry tokens, secrets and tenant data (a handler may still set its own).
 */
export function securityHeaders(paths: { console: string; docs: string }): RequestHandler {
  const common = helmet({
    contentSecurityPolicy: false,
    strictTransportSecurity: false,
    xFrameOptions: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
  });
  const consolePolicy = csp(CONSOLE_CSP);
  const docsPolicy = csp(DOCS_CSP);
  const apiPolicy = csp(API_CSP);
  return (req: Request, res: Response, next: NextFunction) => {
    common(req, res, (err?: unknown) => {
      if (err) return next(err);
      if (under(req.path, paths.console)) return consolePolicy(req, res, next);
      // /docs, its assets and /docs/openapi.json (Swagger UI's own files are cacheable).
      if (under(req.path, paths.docs)) return docsPolicy(req, res, next);
      res.setHeader('Cache-Control', 'no-store');
      return apiPolicy(req, res, next);
    });
  };
}
