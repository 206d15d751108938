import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');

/** npm runs package scripts with /bin/sh, so the script is exercised under sh, not bash. */
function source(cwd: string, env: Record<string, string>) {
  const { HERALD_MASTER_KEY: _drop, ...inherited } = process.env;
  return spawnSync(
    'sh',
    ['-c', `. ${join(ROOT, 'scripts/dev-env.sh')} && printf "%s" "$HERALD_MASTER_KEY"`],
    {
      cwd,
      env: { ...inherited, ...env },
      encoding: 'utf8',
    },
  );
}

describe('scripts/dev-env.sh', () => {
  it('generates a 32-byte key once, private to the owner, and reuses it', () => {
    const state = mkdtempSync(join(tmpdir(), 'herald-state-'));
    const first = source(ROOT, { HERALD_STATE_DIR: state });
    expect(first.status).toBe(0);
    const key = first.stdout.split('\n').pop()!;
    expect(Buffer.from(key, 'base64')).toHaveLength(32);
    expect(readFileSync(join(state, 'master.key'), 'utf8')).toBe(key);
    expect(statSync(join(state, 'master.key')).mode & 0o077).toBe(0);
    const second = source(ROOT, { HERALD_STATE_DIR: state });
    expect(second.stdout).toBe(key);
  });

  it('leaves a key from the environment alone', () => {
    const state = mkdtempSync(join(tmpdir(), 'herald-state-'));
    const given = Buffer.alloc(32, 9).toString('base64');
    const res = source(ROOT, { HERALD_STATE_DIR: state, HERALD_MASTER_KEY: given });
    expect(res.stdout).toBe(given);
    expect(() => statSync(join(state, 'master.key'))).toThrow();
  });

  it('refuses to run outside the project root instead of writing a key elsewhere', () => {
    const res = source(tmpdir(), {});
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain('must be sourced from the Herald project root');
  });
});
