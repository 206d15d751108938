import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Jest runs global setup outside its module system (no path aliases), so the template database is
 * prepared in a child process that compiles TypeScript with the project's tsconfig.
 */
export default function globalSetup(): void {
  const root = join(__dirname, '../../../..');
  execFileSync(process.execPath, ['-r', '@swc-node/register', join(__dirname, 'prepare-template.ts')], {
    cwd: root,
    stdio: 'inherit',
  });
}
