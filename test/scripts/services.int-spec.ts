/**
 * Tests for scripts/services.sh (PostgreSQL/Redis bootstrap).
 *
 * Most tests drive the real script with HERALD_SERVICES_STUBS pointing at a
 * stubs file that replaces every function with an external effect (strict
 * mode: the script refuses to run if one is not overridden). The stubs read a
 * simulated "world" from files in a temp dir and append every call to a log,
 * so the tests assert the exact decision and the exact sequence of calls.
 *
 * The "real services" block runs without stubs against the PostgreSQL and
 * Redis on this machine, read-only (--dry-run and probes).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const SCRIPT = join(ROOT, 'scripts/services.sh');
const LIB = join(ROOT, 'scripts/lib/services-lib.sh');
const SEP = '\x1f';

const STUBS = String.raw`
# test stubs for scripts/services.sh — world in $STUB_STATE, call log in $STUB_LOG
_log() { local IFS=$'\x1f'; printf '%s\n' "$*" >>"$STUB_LOG"; }
_has() { [[ -e $STUB_STATE/$1 ]]; }
have_cmd() { return 1; }
probe_postgres() { _log probe_postgres "$@"; _has pg_up; }
probe_redis() { _log probe_redis "$@"; _has redis_up; }
port_open() { _log port_open "$@"; _has "port_open_$2"; }
pg_installed() { _log pg_installed; _has pg_installed; }
redis_installed() { _log redis_installed; _has redis_installed; }
start_postgres() {
  _log start_postgres "$@"
  _has pg_start_fails && return 1
  _has pg_start_noop || : >"$STUB_STATE/pg_up"
}
start_redis() {
  _log start_redis "$@"
  _has redis_start_fails && return 1
  _has redis_start_noop || : >"$STUB_STATE/redis_up"
}
is_root() { _log is_root; _has root; }
is_debian() { _log is_debian; _has debian; }
has_apt() { _log has_apt; _has apt; }
apt_update() { _log apt_update; }
apt_install() {
  _log apt_install "$@"
  _has apt_fails && return 1
  local p
  for p in "$@"; do
    case $p in
      postgresql) : >"$STUB_STATE/pg_installed" ;;
      redis-server) : >"$STUB_STATE/redis_installed" ;;
    esac
  done
}
configure_postgres_auth() { _log configure_postgres_auth "$@"; }
database_exists() {
  _log database_exists "$@"
  _has db_check_fails && return 2
  [[ -f $STUB_STATE/databases ]] && grep -Fxq -- "$5" "$STUB_STATE/databases"
}
create_database() { _log create_database "$@"; printf '%s\n' "$5" >>"$STUB_STATE/databases"; }
pause() { _log pause "$@"; }
`;

type Flag =
  | 'pg_up'
  | 'pg_installed'
  | 'redis_up'
  | 'redis_installed'
  | 'root'
  | 'debian'
  | 'apt'
  | 'pg_start_fails'
  | 'pg_start_noop'
  | 'redis_start_fails'
  | 'redis_start_noop'
  | 'apt_fails'
  | 'db_check_fails'
  | `port_open_${number}`;

interface World {
  flags?: Flag[];
  databases?: string[];
}

interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  calls: string[][];
}

const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

/** A simulated machine: state files + stubs file + call log in a temp dir. */
function makeWorld(world: World = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'herald-services-'));
  tmpDirs.push(dir);
  const state = join(dir, 'state');
  spawnSync('mkdir', ['-p', state]);
  for (const f of world.flags ?? []) writeFileSync(join(state, f), '');
  if (world.databases) writeFileSync(join(state, 'databases'), world.databases.map((d) => d + '\n').join(''));
  const stubs = join(dir, 'stubs.sh');
  writeFileSync(stubs, STUBS);
  const log = join(dir, 'calls.log');

  const run = (args: string[] = [], env: Record<string, string> = {}): RunResult => {
    writeFileSync(log, '');
    const r = spawnSync('bash', [SCRIPT, ...args], {
      cwd: dir,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: dir,
        LANG: 'C.UTF-8',
        HERALD_SERVICES_STUBS: stubs,
        HERALD_SERVICES_STUBS_STRICT: '1',
        HERALD_STATE_DIR: join(dir, 'herald-state'),
        STUB_STATE: state,
        STUB_LOG: log,
        ...env,
      },
    });
    const calls = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split(SEP));
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls };
  };
  const has = (flag: string) => existsSync(join(state, flag));
  return { dir, run, has };
}

const MUTATING = new Set([
  'start_postgres',
  'start_redis',
  'apt_update',
  'apt_install',
  'configure_postgres_auth',
  'create_database',
]);
const effects = (r: RunResult) => r.calls.filter((c) => MUTATING.has(c[0]));
const lines = (s: string) => s.split('\n').filter((l) => l !== '');

const PG = ['127.0.0.1', '5432', 'postgres', ''];
const RD = ['127.0.0.1', '6379', '', ''];

describe('scripts/services.sh — PostgreSQL decisions (stubbed)', () => {
  it('reachable: uses the server, starts nothing, database already there', () => {
    const w = makeWorld({ flags: ['pg_up', 'pg_installed', 'root', 'debian', 'apt'], databases: ['herald'] });
    const r = w.run(['--only', 'postgres']);
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual(['postgres: reachable at 127.0.0.1:5432 (database herald ready)']);
    expect(r.calls).toEqual([
      ['probe_postgres', ...PG],
      ['database_exists', ...PG, 'herald'],
    ]);
  });

  it('reachable but database missing: creates the database named in DATABASE_URL', () => {
    const w = makeWorld({ flags: ['pg_up'] });
    const r = w.run(['--only', 'postgres']);
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual(['postgres: reachable at 127.0.0.1:5432 (database herald created)']);
    expect(effects(r)).toEqual([['create_database', ...PG, 'herald']]);
  });

  it('not reachable + installed + loopback: starts it, waits until it answers', () => {
    const w = makeWorld({ flags: ['pg_installed'] });
    const r = w.run(['--only', 'postgres']);
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual(['postgres: started at 127.0.0.1:5432 (database herald created)']);
    expect(r.calls).toEqual([
      ['probe_postgres', ...PG],
      ['pg_installed'],
      ['start_postgres', ...PG],
      ['probe_postgres', ...PG],
      ['database_exists', ...PG, 'herald'],
      ['create_database', ...PG, 'herald'],
    ]);
  });

  it('started but never answers: fails after the bounded wait', () => {
    const w = makeWorld({ flags: ['pg_installed', 'pg_start_noop'] });
    const r = w.run(['--only', 'postgres'], { HERALD_SERVICES_TIMEOUT: '3' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      'postgres: failed at 127.0.0.1:5432 — PostgreSQL was started but did not answer within 3s',
    );
    expect(r.calls.filter((c) => c[0] === 'probe_postgres')).toHaveLength(1 + 4);
    expect(r.calls.filter((c) => c[0] === 'pause')).toEqual([
      ['pause', '1'],
      ['pause', '1'],
      ['pause', '1'],
    ]);
    expect(effects(r)).toEqual([['start_postgres', ...PG]]);
  });

  it('start command fails: reports it, no database step', () => {
    const w = makeWorld({ flags: ['pg_installed', 'pg_start_fails'] });
    const r = w.run(['--only', 'postgres']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      'postgres: failed at 127.0.0.1:5432 — PostgreSQL is installed but could not be started',
    );
    expect(r.calls.map((c) => c[0])).toEqual(['probe_postgres', 'pg_installed', 'start_postgres']);
  });

  it('not installed + root + Debian + apt-get: installs, starts, sets up auth, creates the database', () => {
    const w = makeWorld({ flags: ['root', 'debian', 'apt'] });
    const r = w.run(['--only', 'postgres']);
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual(['postgres: installed at 127.0.0.1:5432 (database herald created)']);
    expect(r.calls).toEqual([
      ['probe_postgres', ...PG],
      ['pg_installed'],
      ['is_root'],
      ['is_debian'],
      ['has_apt'],
      ['apt_update'],
      ['apt_install', 'postgresql', 'postgresql-client'],
      ['pg_installed'],
      ['probe_postgres', ...PG],
      ['start_postgres', ...PG],
      ['probe_postgres', ...PG],
      ['configure_postgres_auth', ...PG],
      ['database_exists', ...PG, 'herald'],
      ['create_database', ...PG, 'herald'],
    ]);
  });

  it('apt-get failure: fails without starting anything', () => {
    const w = makeWorld({ flags: ['root', 'debian', 'apt', 'apt_fails'] });
    const r = w.run(['--only', 'postgres']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('postgres: failed at 127.0.0.1:5432 — apt-get could not install postgresql');
    expect(effects(r)).toEqual([['apt_update'], ['apt_install', 'postgresql', 'postgresql-client']]);
  });

  it.each([
    [['debian', 'apt'] as Flag[], 'not running as root'],
    [['root', 'apt'] as Flag[], 'not a Debian/Ubuntu system (no /etc/debian_version)'],
    [['root', 'debian'] as Flag[], 'apt-get not found'],
  ])('not installed and cannot install (%j): exit 1 naming what to install', (flags, why) => {
    const w = makeWorld({ flags });
    const r = w.run(['--only', 'postgres']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toEqual([
      'postgres: missing at 127.0.0.1:5432 — PostgreSQL is not reachable at 127.0.0.1:5432 and not installed: ' +
        `install PostgreSQL 15+ (Debian: apt-get install postgresql) or set DATABASE_URL (automatic install skipped: ${why})`,
    ]);
    expect(effects(r)).toEqual([]);
  });

  it('remote host unreachable: fails without starting or installing, even as root with it installed', () => {
    const w = makeWorld({ flags: ['pg_installed', 'root', 'debian', 'apt'] });
    const r = w.run(['--only', 'postgres'], { DATABASE_URL: 'postgres://app:pw@db.example.com:6543/herald' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      'postgres: unreachable at db.example.com:6543 — PostgreSQL does not answer at db.example.com:6543 and db.example.com is not a loopback host, so nothing was started or installed',
    );
    expect(r.calls).toEqual([['probe_postgres', 'db.example.com', '6543', 'app', 'pw']]);
  });

  it('remote host reachable: uses it and creates the database there', () => {
    const w = makeWorld({ flags: ['pg_up'] });
    const r = w.run(['--only', 'postgres'], {
      DATABASE_URL: 'postgresql://app:pw@db.example.com/herald_prod',
    });
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'postgres: reachable at db.example.com:5432 (database herald_prod created)',
    ]);
    expect(effects(r)).toEqual([['create_database', 'db.example.com', '5432', 'app', 'pw', 'herald_prod']]);
  });

  it('database name needing quoting is passed through decoded and verbatim', () => {
    const w = makeWorld({ flags: ['pg_up'] });
    const r = w.run(['--only', 'postgres'], {
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/my%20%22odd%22-DB%3Bdrop',
    });
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'postgres: reachable at 127.0.0.1:5432 (database my "odd"-DB;drop created)',
    ]);
    expect(effects(r)).toEqual([['create_database', ...PG, 'my "odd"-DB;drop']]);
  });

  it('cannot check the database (e.g. auth): fails with a hint, does not try to create', () => {
    const w = makeWorld({ flags: ['pg_up', 'db_check_fails'] });
    const r = w.run(['--only', 'postgres']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      'postgres: failed at 127.0.0.1:5432 — the server answers but connecting as role postgres to the postgres database failed',
    );
    expect(effects(r)).toEqual([]);
  });

  it('URL parsing: user, password (percent-encoded), localhost, port, sslmode ignored for the call', () => {
    const w = makeWorld({ flags: ['pg_installed'] });
    const r = w.run(['--only', 'postgres'], {
      DATABASE_URL: 'postgres://alice:s%40cr%3Aet@localhost:5433/app?sslmode=disable',
    });
    expect(r.status).toBe(0);
    const creds = ['localhost', '5433', 'alice', 's@cr:et'];
    expect(lines(r.stdout)).toEqual(['postgres: started at localhost:5433 (database app created)']);
    expect(r.calls).toEqual([
      ['probe_postgres', ...creds],
      ['pg_installed'],
      ['start_postgres', ...creds],
      ['probe_postgres', ...creds],
      ['database_exists', ...creds, 'app'],
      ['create_database', ...creds, 'app'],
    ]);
  });

  it('URL parsing: IPv6 [::1] is loopback, default port 5432', () => {
    const w = makeWorld({ flags: ['pg_installed'], databases: ['herald'] });
    const r = w.run(['--only', 'postgres'], { DATABASE_URL: 'postgres://postgres@[::1]/herald' });
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual(['postgres: started at [::1]:5432 (database herald ready)']);
    expect(effects(r)).toEqual([['start_postgres', '::1', '5432', 'postgres', '']]);
  });

  it('invalid DATABASE_URL: fails before probing anything', () => {
    const w = makeWorld({ flags: ['pg_up'] });
    for (const url of ['mysql://root@127.0.0.1/herald', 'postgres://127.0.0.1:99999/x', 'not a url']) {
      const r = w.run(['--only', 'postgres'], { DATABASE_URL: url });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('postgres: failed — invalid DATABASE_URL');
      expect(r.calls).toEqual([]);
    }
  });

  it('idempotent: second run only reports reachable', () => {
    const w = makeWorld({ flags: ['pg_installed'] });
    const first = w.run(['--only', 'postgres']);
    expect(lines(first.stdout)).toEqual(['postgres: started at 127.0.0.1:5432 (database herald created)']);
    const second = w.run(['--only', 'postgres']);
    expect(second.status).toBe(0);
    expect(lines(second.stdout)).toEqual(['postgres: reachable at 127.0.0.1:5432 (database herald ready)']);
    expect(effects(second)).toEqual([]);
  });

  it('--dry-run: prints the plan and changes nothing', () => {
    const w = makeWorld({ flags: ['pg_installed'] });
    const r = w.run(['--dry-run', '--only', 'postgres']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^postgres: started at 127\.0\.0\.1:5432 \(dry run: would start the local server .*create database herald if missing\)\n$/,
    );
    expect(effects(r)).toEqual([]);
    expect(w.has('pg_up')).toBe(false);

    const up = makeWorld({ flags: ['pg_up'] });
    const r2 = up.run(['--dry-run', '--only=postgres']);
    expect(lines(r2.stdout)).toEqual([
      'postgres: reachable at 127.0.0.1:5432 (dry run: would create database herald)',
    ]);
    expect(effects(r2)).toEqual([]);

    const bare = makeWorld({ flags: ['root', 'debian', 'apt'] });
    const r3 = bare.run(['--dry-run', '--only', 'postgres']);
    expect(r3.stdout).toMatch(
      /^postgres: installed at 127\.0\.0\.1:5432 \(dry run: would run apt-get update && apt-get install -y postgresql postgresql-client/,
    );
    expect(effects(r3)).toEqual([]);
  });
});

describe('scripts/services.sh — Redis decisions (stubbed)', () => {
  it('reachable: nothing started', () => {
    const w = makeWorld({ flags: ['redis_up', 'redis_installed'] });
    const r = w.run(['--only', 'redis']);
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual(['redis: reachable at 127.0.0.1:6379']);
    expect(r.calls).toEqual([['probe_redis', ...RD]]);
  });

  it('not reachable + installed + loopback: starts it, waits until PONG', () => {
    const w = makeWorld({ flags: ['redis_installed'] });
    const r = w.run(['--only', 'redis']);
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual(['redis: started at 127.0.0.1:6379']);
    expect(r.calls).toEqual([
      ['probe_redis', ...RD],
      ['port_open', '127.0.0.1', '6379'],
      ['redis_installed'],
      ['start_redis', ...RD],
      ['probe_redis', ...RD],
    ]);
  });

  it('something else listens on the port: fails fast without starting a second server', () => {
    const w = makeWorld({ flags: ['redis_installed', 'port_open_6379'] });
    const r = w.run(['--only', 'redis']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      'redis: failed at 127.0.0.1:6379 — something is listening at 127.0.0.1:6379 but it does not answer PING with PONG',
    );
    expect(effects(r)).toEqual([]);
  });

  it('started but never answers: fails after the bounded wait', () => {
    const w = makeWorld({ flags: ['redis_installed', 'redis_start_noop'] });
    const r = w.run(['--only', 'redis'], { HERALD_SERVICES_TIMEOUT: '2' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      'redis: failed at 127.0.0.1:6379 — redis-server was started but did not answer within 2s',
    );
    expect(r.calls.filter((c) => c[0] === 'pause')).toHaveLength(2);
  });

  it('not installed + root + Debian: installs redis-server + redis-tools, then starts it', () => {
    const w = makeWorld({ flags: ['root', 'debian', 'apt'] });
    const r = w.run(['--only', 'redis']);
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual(['redis: installed at 127.0.0.1:6379']);
    expect(r.calls).toEqual([
      ['probe_redis', ...RD],
      ['port_open', '127.0.0.1', '6379'],
      ['redis_installed'],
      ['is_root'],
      ['is_debian'],
      ['has_apt'],
      ['apt_update'],
      ['apt_install', 'redis-server', 'redis-tools'],
      ['redis_installed'],
      ['probe_redis', ...RD],
      ['start_redis', ...RD],
      ['probe_redis', ...RD],
    ]);
  });

  it('not installed + not root: exit 1 naming what to install', () => {
    const w = makeWorld({ flags: ['debian', 'apt'] });
    const r = w.run(['--only', 'redis']);
    expect(r.status).toBe(1);
    expect(lines(r.stderr)).toEqual([
      'redis: missing at 127.0.0.1:6379 — Redis is not reachable at 127.0.0.1:6379 and not installed: ' +
        'install Redis 6.2+ (Debian: apt-get install redis-server) or set REDIS_URL (automatic install skipped: not running as root)',
    ]);
    expect(effects(r)).toEqual([]);
  });

  it('remote host unreachable: fails without starting or installing', () => {
    const w = makeWorld({ flags: ['redis_installed', 'root', 'debian', 'apt'] });
    const r = w.run(['--only', 'redis'], { REDIS_URL: 'redis://cache.internal:6380' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      'redis: unreachable at cache.internal:6380 — Redis does not answer at cache.internal:6380 and cache.internal is not a loopback host',
    );
    expect(r.calls).toEqual([['probe_redis', 'cache.internal', '6380', '', '']]);
  });

  it('URL parsing: password-only userinfo, IPv6 [::1], port, db index', () => {
    const w = makeWorld({ flags: ['redis_installed'] });
    const r = w.run(['--only', 'redis'], { REDIS_URL: 'redis://:p%40ss@[::1]:6380/2' });
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual(['redis: started at [::1]:6380']);
    expect(effects(r)).toEqual([['start_redis', '::1', '6380', '', 'p@ss']]);
  });

  it('URL parsing: user + password, localhost, default port 6379', () => {
    const w = makeWorld({ flags: ['redis_up'] });
    const r = w.run(['--only', 'redis'], { REDIS_URL: 'redis://herald:secret@localhost' });
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual(['redis: reachable at localhost:6379']);
    expect(r.calls).toEqual([['probe_redis', 'localhost', '6379', 'herald', 'secret']]);
  });

  it('rediss:// on loopback that does not answer: not started (no TLS servers)', () => {
    const w = makeWorld({ flags: ['redis_installed'] });
    const r = w.run(['--only', 'redis'], { REDIS_URL: 'rediss://127.0.0.1:6390' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('does not start TLS servers');
    expect(effects(r)).toEqual([]);
  });

  it('idempotent: second run only reports reachable', () => {
    const w = makeWorld({ flags: ['redis_installed'] });
    expect(lines(w.run(['--only', 'redis']).stdout)).toEqual(['redis: started at 127.0.0.1:6379']);
    const second = w.run(['--only', 'redis']);
    expect(second.status).toBe(0);
    expect(lines(second.stdout)).toEqual(['redis: reachable at 127.0.0.1:6379']);
    expect(effects(second)).toEqual([]);
  });

  it('--dry-run: prints the redis-server plan and starts nothing', () => {
    const w = makeWorld({ flags: ['redis_installed'] });
    const r = w.run(['--dry-run', '--only', 'redis']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(
      'redis: started at 127.0.0.1:6379 (dry run: would run redis-server --daemonize yes --bind 127.0.0.1 --port 6379',
    );
    expect(r.stdout).toContain('--appendonly yes --maxmemory-policy noeviction');
    expect(effects(r)).toEqual([]);
    expect(w.has('redis_up')).toBe(false);
  });
});

describe('scripts/services.sh — both services, options', () => {
  it('defaults: both handled, one line each, postgres first', () => {
    const w = makeWorld({ flags: ['pg_up', 'redis_up'], databases: ['herald'] });
    const r = w.run();
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'postgres: reachable at 127.0.0.1:5432 (database herald ready)',
      'redis: reachable at 127.0.0.1:6379',
    ]);
    expect(effects(r)).toEqual([]);
  });

  it('both missing as root on Debian: apt-get update runs once, both installed', () => {
    const w = makeWorld({ flags: ['root', 'debian', 'apt'] });
    const r = w.run();
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'postgres: installed at 127.0.0.1:5432 (database herald created)',
      'redis: installed at 127.0.0.1:6379',
    ]);
    expect(effects(r)).toEqual([
      ['apt_update'],
      ['apt_install', 'postgresql', 'postgresql-client'],
      ['start_postgres', ...PG],
      ['configure_postgres_auth', ...PG],
      ['create_database', ...PG, 'herald'],
      ['apt_install', 'redis-server', 'redis-tools'],
      ['start_redis', ...RD],
    ]);
    const again = w.run();
    expect(lines(again.stdout)).toEqual([
      'postgres: reachable at 127.0.0.1:5432 (database herald ready)',
      'redis: reachable at 127.0.0.1:6379',
    ]);
    expect(effects(again)).toEqual([]);
  });

  it('a postgres failure does not hide redis; exit code is non-zero', () => {
    const w = makeWorld({ flags: ['redis_installed'] });
    const r = w.run();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('postgres: missing at 127.0.0.1:5432');
    expect(lines(r.stdout)).toEqual(['redis: started at 127.0.0.1:6379']);
  });

  it('--only redis does not touch postgres', () => {
    const w = makeWorld({ flags: ['redis_up'] });
    const r = w.run(['--only', 'redis']);
    expect(r.calls.some((c) => c[0].includes('postgres') || c[0].startsWith('pg_'))).toBe(false);
  });

  it('rejects bad options with exit 2', () => {
    const w = makeWorld();
    expect(w.run(['--only', 'mysql']).status).toBe(2);
    expect(w.run(['--only']).status).toBe(2);
    expect(w.run(['--bogus']).status).toBe(2);
    const help = w.run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: scripts/services.sh');
  });

  it('strict stubs: refuses to run when an effect function is not overridden', () => {
    const w = makeWorld({ flags: ['pg_up'] });
    const partial = join(w.dir, 'partial-stubs.sh');
    writeFileSync(partial, STUBS.replace(/^pause\(\).*$/m, ''));
    const r = w.run([], { HERALD_SERVICES_STUBS: partial });
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('does not override pause');
    expect(r.calls).toEqual([]);
  });
});

describe('services-lib.sh parse_url', () => {
  const parse = (url: string, def = '5432') => {
    const r = spawnSync(
      'bash',
      [
        '-c',
        'source "$0" && parse_url "$1" "$2" && printf "%s\\x1f" "$URL_SCHEME" "$URL_USER" "$URL_PASSWORD" "$URL_HOST" "$URL_PORT" "$URL_PATH" "$URL_QUERY"',
        LIB,
        url,
        def,
      ],
      { encoding: 'utf8' },
    );
    return { status: r.status, fields: r.stdout.split(SEP).slice(0, -1), stderr: r.stderr };
  };

  it.each<[string, string[]]>([
    [
      'postgres://postgres@127.0.0.1:5432/herald',
      ['postgres', 'postgres', '', '127.0.0.1', '5432', 'herald', ''],
    ],
    ['postgres://postgres@127.0.0.1/herald', ['postgres', 'postgres', '', '127.0.0.1', '5432', 'herald', '']],
    [
      'postgresql://a%20b:p%3Aw%40d@[::1]:6000/d%2Fb?sslmode=require',
      ['postgresql', 'a b', 'p:w@d', '::1', '6000', 'd%2Fb', 'sslmode=require'],
    ],
    ['postgres://u:@localhost:0100/x#frag', ['postgres', 'u', '', 'localhost', '100', 'x', '']],
    ['postgres:///herald', ['postgres', '', '', '127.0.0.1', '5432', 'herald', '']],
    ['redis://:pw@cache:6380/3', ['redis', '', 'pw', 'cache', '6380', '3', '']],
  ])('%s', (url, expected) => {
    const r = parse(url);
    expect(r.status).toBe(0);
    expect(r.fields).toEqual(expected);
  });

  it.each([
    '127.0.0.1:5432',
    'postgres://h:0/x',
    'postgres://h:70000/x',
    'postgres://h:abc/x',
    'postgres://[::1/x',
    'postgres://::1:5432/x',
  ])('rejects %s', (url) => {
    expect(parse(url).status).toBe(1);
  });
});

// ---------------------------------------------------------------------------
// Real services on this machine (PostgreSQL 127.0.0.1:5432, Redis 127.0.0.1:6379).
// Read-only: --dry-run and probes. Set HERALD_SKIP_REAL_SERVICES=1 to skip.
const realDescribe = process.env.HERALD_SKIP_REAL_SERVICES === '1' ? describe.skip : describe;

realDescribe('scripts/services.sh — real local services (no stubs, read-only)', () => {
  const cleanEnv = () => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (v !== undefined && !/^(DATABASE_URL|REDIS_URL|HERALD_|PG[A-Z]+$|REDISCLI_AUTH)/.test(k)) env[k] = v;
    }
    return env;
  };

  it('--dry-run with the default URLs reports reachable for both', () => {
    const r = spawnSync('bash', [SCRIPT, '--dry-run'], { encoding: 'utf8', env: cleanEnv(), cwd: ROOT });
    expect(r.stderr).toContain('dry run: nothing will be started, installed or created');
    expect(r.status).toBe(0);
    const out = lines(r.stdout);
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(
      /^postgres: reachable at 127\.0\.0\.1:5432 \((database herald ready|dry run: would create database herald)\)$/,
    );
    expect(out[1]).toBe('redis: reachable at 127.0.0.1:6379');
  });

  it('--dry-run does not create a missing database', () => {
    const db = `herald_dry_run_${process.pid}`;
    const r = spawnSync('bash', [SCRIPT, '--dry-run', '--only', 'postgres'], {
      encoding: 'utf8',
      env: { ...cleanEnv(), DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${db}` },
    });
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual([
      `postgres: reachable at 127.0.0.1:5432 (dry run: would create database ${db})`,
    ]);
    const check = spawnSync(
      'bash',
      ['-c', 'source "$0" && database_exists 127.0.0.1 5432 postgres "" "$1"; echo $?', LIB, db],
      { encoding: 'utf8' },
    );
    expect(check.stdout.trim()).toBe('1');
  });

  // The fallbacks used when pg_isready / psql / redis-cli are not installed.
  const probe = (hide: string[], call: string) =>
    spawnSync(
      'bash',
      [
        '-c',
        `source "$0"; HIDE=" $1 "; have_cmd() { [[ $HIDE != *" $1 "* ]] && command -v "$1" >/dev/null 2>&1; }; ${call}; echo "rc=$?"`,
        LIB,
        hide.join(' '),
      ],
      { encoding: 'utf8' },
    ).stdout.trim();

  it.each([[[] as string[]], [['pg_isready']], [['pg_isready', 'psql']]])(
    'probe_postgres without %j: answers on 5432, not on a closed port',
    (hide) => {
      expect(probe(hide, 'probe_postgres 127.0.0.1 5432 postgres ""')).toBe('rc=0');
      expect(probe(hide, 'probe_postgres 127.0.0.1 1 postgres ""')).toBe('rc=1');
    },
  );

  it.each([[[] as string[]], [['redis-cli']]])(
    'probe_redis without %j: PONG on 6379, not on a closed port',
    (hide) => {
      expect(probe(hide, 'probe_redis 127.0.0.1 6379 "" ""')).toBe('rc=0');
      expect(probe(hide, 'probe_redis 127.0.0.1 1 "" ""')).toBe('rc=1');
    },
  );

  it.each([[[] as string[]], [['psql']]])('database_exists without %j (psql / node+pg fallback)', (hide) => {
    expect(probe(hide, 'database_exists 127.0.0.1 5432 postgres "" postgres')).toBe('rc=0');
    expect(probe(hide, `database_exists 127.0.0.1 5432 postgres "" 'no such "db" ${process.pid}'`)).toBe(
      'rc=1',
    );
  });
});
