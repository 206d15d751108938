import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { static as serveStatic, type NextFunction, type Request, type Response } from 'express';

export const CONSOLE_PATH = '/console';

/**
 * Where `vite build` put the console: beside the bundles in `dist/` (dist/apps/<app>/main.js →
 * dist/console), or the repository's dist/ when the api runs from source (tests).
 */
export function findConsoleDir(): string | undefined {
  const candidates = [
    join(__dirname, '../../console'),
    join(__dirname, '../../../dist/console'),
    join(process.cwd(), 'dist/console'),
  ];
  // `assets/` tells a build from the sources (apps/console also has an index.html).
  return candidates.find((dir) => existsSync(join(dir, 'index.html')) && existsSync(join(dir, 'assets')));
}

/**
 * The console at /console: hashed assets cached for good, every other GET under it answered with
 * index.html (the SPA routes on the client). Without a build, a plain hint instead of a bare 404.
 */
export function serveConsole(app: NestExpressApplication, dir = findConsoleDir()): void {
  if (dir === undefined) {
    app.use(CONSOLE_PATH, (_req: Request, res: Response) => {
      res.status(404).type('text/plain').send('The console is not built: run `npm run build`.\n');
    });
    return;
  }
  const index = join(dir, 'index.html');
  app.use(
    CONSOLE_PATH,
    serveStatic(dir, {
      index: false,
      fallthrough: true,
      setHeaders: (res, path) => {
        if (path.includes(`${join(dir, 'assets')}`)) {
          res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
        }
      },
    }),
  );
  app.use(CONSOLE_PATH, (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    // A missing asset is a 404, not the app shell (a stale tab asking for an old bundle).
    if (req.path.startsWith('/assets/')) return next();
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
}
