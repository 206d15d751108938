import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
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
  // `buildAppsOnce` marks a run's build with this process's pid; a pid reused by a later run must not
  // find an old marker and skip building changed code.
  const dist = join(root, 'dist');
  for (const f of safeReaddir(dist)) if (f.startsWith('.built-for-')) rmSync(join(dist, f), { force: true });
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
