# shellcheck shell=bash
#
# Library for scripts/services.sh: make PostgreSQL and Redis reachable on
# loopback for local development / CI.
#
# Layout
#   * pure helpers      — URL parsing, formatting, decision logic (ensure_*)
#   * effect functions  — everything that touches the machine (probes, starting
#                         servers, apt, creating databases, sleeping). They are
#                         listed in SERVICES_EFFECT_FUNCTIONS and may be
#                         overridden by sourcing a stubs file after this one
#                         (HERALD_SERVICES_STUBS=/path/stubs.sh), which is how
#                         test/scripts/services.spec.ts drives the decision table.
#
# Conventions
#   * stdout carries only the one-line-per-service summary; tool chatter
#     (pg_ctlcluster, apt-get, redis-server, …) and diagnostics go to stderr.
#   * Functions return non-zero instead of exiting so that one failing service
#     does not hide the state of the other.

# Functions with external effects (overridable by HERALD_SERVICES_STUBS).
# shellcheck disable=SC2034 # read by scripts/services.sh
SERVICES_EFFECT_FUNCTIONS=(
  have_cmd
  probe_postgres probe_redis port_open
  pg_installed redis_installed
  start_postgres start_redis
  is_root is_debian has_apt apt_update apt_install
  configure_postgres_auth
  database_exists create_database
  pause
)

DEFAULT_DATABASE_URL='postgres://postgres@127.0.0.1:5432/herald'
DEFAULT_REDIS_URL='redis://127.0.0.1:6379'

: "${DRY_RUN:=0}"
: "${HERALD_SERVICES_TIMEOUT:=30}"
_APT_UPDATED=0

# ---------------------------------------------------------------------------
# output helpers

# say LINE — summary line on stdout
say() { printf '%s\n' "$*"; }
# note LINE — diagnostics on stderr
note() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------------------
# URL parsing (pure)

# url_decode STRING — percent-decode (a literal backslash is preserved).
url_decode() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//%/\\x}
  printf '%b' "$s"
}

# parse_url URL DEFAULT_PORT
# Sets URL_SCHEME URL_USER URL_PASSWORD URL_HOST URL_PORT URL_PATH URL_QUERY.
# User, password and path are percent-decoded; IPv6 hosts must be bracketed
# ([::1]) and are returned without brackets. An empty host means 127.0.0.1.
parse_url() {
  local url=$1 default_port=$2 rest authority after userinfo hostport tail
  URL_SCHEME="" URL_USER="" URL_PASSWORD="" URL_HOST="" URL_PORT="" URL_PATH="" URL_QUERY=""
  if [[ $url != *://* ]]; then
    note "not a URL (expected scheme://[user[:password]@]host[:port][/path]): '$url'"
    return 1
  fi
  URL_SCHEME=${url%%://*}
  rest=${url#*://}
  authority=${rest%%[/?#]*}
  after=${rest:${#authority}}
  if [[ $after == /* ]]; then
    URL_PATH=${after#/}
    URL_PATH=${URL_PATH%%[?#]*}
  fi
  if [[ $after == *\?* ]]; then
    URL_QUERY=${after#*\?}
    URL_QUERY=${URL_QUERY%%#*}
  fi
  hostport=$authority
  if [[ $authority == *@* ]]; then
    userinfo=${authority%@*}
    hostport=${authority##*@}
    URL_USER=$(url_decode "${userinfo%%:*}")
    if [[ $userinfo == *:* ]]; then
      URL_PASSWORD=$(url_decode "${userinfo#*:}")
    fi
  fi
  if [[ $hostport == \[* ]]; then
    if [[ $hostport != *\]* ]]; then
      note "unterminated IPv6 address in URL: '$hostport'"
      return 1
    fi
    URL_HOST=${hostport#\[}
    URL_HOST=${URL_HOST%%\]*}
    tail=${hostport#*\]}
    case $tail in
      '') ;;
      :*) URL_PORT=${tail#:} ;;
      *)
        note "unexpected text after IPv6 address in URL: '$tail'"
        return 1
        ;;
    esac
  elif [[ $hostport == *:*:* ]]; then
    note "IPv6 addresses must be written in brackets in URLs (e.g. [::1]:5432): '$hostport'"
    return 1
  elif [[ $hostport == *:* ]]; then
    URL_HOST=${hostport%%:*}
    URL_PORT=${hostport#*:}
  else
    URL_HOST=$hostport
  fi
  [[ -n $URL_HOST ]] || URL_HOST=127.0.0.1
  [[ -n $URL_PORT ]] || URL_PORT=$default_port
  if ! [[ $URL_PORT =~ ^[0-9]{1,5}$ ]] || ((10#$URL_PORT < 1 || 10#$URL_PORT > 65535)); then
    note "invalid port in URL: '$URL_PORT'"
    return 1
  fi
  URL_PORT=$((10#$URL_PORT))
}

# query_param QUERY NAME — print the (decoded) value of NAME in a query string.
query_param() {
  local pair
  local -a pairs
  IFS='&' read -r -a pairs <<<"$1"
  for pair in "${pairs[@]}"; do
    if [[ ${pair%%=*} == "$2" && $pair == *=* ]]; then
      url_decode "${pair#*=}"
      return 0
    fi
  done
  return 1
}

# parse_database_url — sets PG_HOST PG_PORT PG_USER PG_PASSWORD PG_DB PG_SSLMODE
parse_database_url() {
  local url=${DATABASE_URL:-$DEFAULT_DATABASE_URL}
  parse_url "$url" 5432 || return 1
  case $URL_SCHEME in
    postgres | postgresql) ;;
    *)
      note "DATABASE_URL must start with postgres:// or postgresql:// (got '$URL_SCHEME://…')"
      return 1
      ;;
  esac
  PG_HOST=$URL_HOST
  PG_PORT=$URL_PORT
  PG_USER=${URL_USER:-postgres}
  PG_PASSWORD=$URL_PASSWORD
  PG_DB=$(url_decode "$URL_PATH")
  [[ -n $PG_DB ]] || PG_DB=$PG_USER
  PG_SSLMODE=$(query_param "$URL_QUERY" sslmode || true)
}

# parse_redis_url — sets REDIS_SCHEME REDIS_HOST REDIS_PORT REDIS_USER REDIS_PASSWORD
parse_redis_url() {
  local url=${REDIS_URL:-$DEFAULT_REDIS_URL}
  parse_url "$url" 6379 || return 1
  case $URL_SCHEME in
    redis | rediss) ;;
    *)
      note "REDIS_URL must start with redis:// or rediss:// (got '$URL_SCHEME://…')"
      return 1
      ;;
  esac
  REDIS_SCHEME=$URL_SCHEME
  REDIS_HOST=$URL_HOST
  REDIS_PORT=$URL_PORT
  REDIS_USER=$URL_USER
  REDIS_PASSWORD=$URL_PASSWORD
}

# fmt_hostport HOST PORT — 127.0.0.1:5432 / [::1]:5432
fmt_hostport() {
  if [[ $1 == *:* ]]; then
    printf '[%s]:%s' "$1" "$2"
  else
    printf '%s:%s' "$1" "$2"
  fi
}

# is_loopback HOST — we only ever start/install servers for these hosts.
is_loopback() {
  case $1 in
    127.0.0.1 | localhost | ::1) return 0 ;;
    *) return 1 ;;
  esac
}

# ---------------------------------------------------------------------------
# effect functions (overridable)

have_cmd() { command -v "$1" >/dev/null 2>&1; }

is_root() { [[ $(id -u) == 0 ]]; }
is_debian() { [[ -f /etc/debian_version ]]; }
has_apt() { have_cmd apt-get; }

# pause SECONDS
pause() { sleep "$1"; }

# with_timeout SECONDS CMD… — run CMD with a time limit when timeout(1) exists.
with_timeout() {
  local secs=$1
  shift
  if have_cmd timeout; then
    timeout "$secs" "$@"
  else
    "$@"
  fi
}

# port_open HOST PORT — a TCP connect succeeds (bash /dev/tcp).
port_open() {
  # shellcheck disable=SC2016 # $1/$2 are expanded by the inner bash
  with_timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

apt_update() {
  note "+ apt-get update"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
}

# apt_install PACKAGE…
apt_install() {
  note "+ apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2
}

apt_update_once() {
  ((_APT_UPDATED)) && return 0
  apt_update || return 1
  _APT_UPDATED=1
}

# --- PostgreSQL -------------------------------------------------------------

# pg_client_env HOST PORT USER PASSWORD — fills the PG_ENV array for `env`.
pg_client_env() {
  PG_ENV=(PGHOST="$1" PGPORT="$2" PGUSER="$3" PGDATABASE=postgres PGCONNECT_TIMEOUT=5)
  if [[ -n $4 ]]; then PG_ENV+=(PGPASSWORD="$4"); fi
  if [[ -n ${PG_SSLMODE:-} ]]; then PG_ENV+=(PGSSLMODE="$PG_SSLMODE"); fi
}

# node_pg MODE HOST PORT USER PASSWORD [DB] — fallback when psql is missing,
# using the `pg` package from the repository's node_modules.
# MODE: ping (prints ok) | exists (prints exists|missing) | create (prints exists|created)
# Exit: 0 ok, 2 query/connection error, 3 node/pg unavailable.
node_pg() {
  have_cmd node || return 3
  local script
  script=$(
    cat <<'JS'
const e = process.env;
let pg;
try {
  pg = require(require.resolve('pg', { paths: [e.HERALD_ROOT || process.cwd(), process.cwd()] }));
} catch (err) {
  console.error('node fallback: cannot load the "pg" package (run npm ci in the repository)');
  process.exit(3);
}
const client = new pg.Client({
  host: e.HERALD_PG_HOST,
  port: Number(e.HERALD_PG_PORT),
  user: e.HERALD_PG_USER,
  password: e.HERALD_PG_PASSWORD || undefined,
  database: 'postgres',
  connectionTimeoutMillis: 5000,
});
(async () => {
  await client.connect();
  const mode = e.HERALD_PG_MODE;
  const db = e.HERALD_PG_DB;
  if (mode === 'ping') {
    await client.query('select 1');
    console.log('ok');
  } else {
    const r = await client.query('select 1 from pg_database where datname = $1', [db]);
    if (r.rowCount > 0) console.log('exists');
    else if (mode === 'create') {
      await client.query('create database ' + client.escapeIdentifier(db));
      console.log('created');
    } else console.log('missing');
  }
  await client.end();
})().catch((err) => {
  // ping: an error sent by the server (unknown role, bad password) means it
  // answers; 57P03 = cannot_connect_now (starting up / shutting down)
  if (e.HERALD_PG_MODE === 'ping' && ((err.severity && err.code !== '57P03') || /password/i.test(err.message))) {
    console.log('answered');
    process.exit(0);
  }
  console.error('node fallback: ' + err.message);
  process.exit(2);
});
JS
  )
  local -a envs=(
    HERALD_ROOT="${HERALD_ROOT:-$PWD}" HERALD_PG_MODE="$1" HERALD_PG_HOST="$2" HERALD_PG_PORT="$3"
    HERALD_PG_USER="$4" HERALD_PG_PASSWORD="$5" HERALD_PG_DB="${6:-}"
  )
  if [[ -n ${PG_SSLMODE:-} ]]; then envs+=(PGSSLMODE="$PG_SSLMODE"); fi
  env "${envs[@]}" node -e "$script"
}

# probe_postgres HOST PORT USER PASSWORD — the server answers.
# pg_isready if available; else TCP connect plus `select 1` (psql, else node+pg).
probe_postgres() {
  local host=$1 port=$2 user=$3 password=$4 out rc
  if have_cmd pg_isready; then
    # 0 accepting; 1 rejecting (starting up/shutting down); 2 no response
    pg_isready -q -h "$host" -p "$port" -U "$user" -d postgres -t 3 >/dev/null 2>&1 && return 0
    return 1
  fi
  port_open "$host" "$port" || return 1
  pg_client_env "$host" "$port" "$user" "$password"
  if have_cmd psql; then
    rc=0
    out=$(env "${PG_ENV[@]}" LC_ALL=C psql -X -w -q -At -c 'select 1' 2>&1) || rc=$?
    ((rc != 0)) || [[ $out != 1 ]] || return 0
    # The server sent an error (e.g. unknown role, bad/missing password): it answers;
    # the database step reports the actual problem. Startup/shutdown does not count.
    [[ ($out == *FATAL:* || $out == *fe_sendauth:*) && $out != *"starting up"* && $out != *"shutting down"* && $out != *"recovery mode"* && $out != *"not yet accepting"* ]]
    return
  fi
  rc=0
  out=$(node_pg ping "$host" "$port" "$user" "$password" 2>/dev/null) || rc=$?
  case $rc in
    0) [[ $out == ok || $out == answered ]] ;;
    3) return 0 ;; # neither psql nor node+pg: the TCP connect is all we can check
    *) return 1 ;;
  esac
}

# pg_installed — a PostgreSQL server binary is installed locally.
pg_installed() {
  compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || have_cmd postgres
}

# pg_clusters — "version name port status" per Debian cluster.
pg_clusters() {
  have_cmd pg_lsclusters || return 0
  pg_lsclusters -h 2>/dev/null | awk 'NF >= 4 { print $1, $2, $3, $4 }'
}

# pg_newest_version — newest installed server major version (Debian layout).
pg_newest_version() {
  local d best=""
  for d in /usr/lib/postgresql/*/bin/postgres; do
    [[ -e $d ]] || continue
    d=${d#/usr/lib/postgresql/}
    d=${d%%/*}
    if [[ -z $best ]] || [[ $(printf '%s\n%s\n' "$best" "$d" | sort -V | tail -n1) == "$d" ]]; then
      best=$d
    fi
  done
  [[ -n $best ]] && printf '%s' "$best"
}

# pg_local_psql PORT [psql args…] — superuser psql over the local socket as the
# postgres OS user (root only; used only for clusters this script set up).
pg_local_psql() {
  local port=$1
  shift
  runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@"
}

# pg_ensure_role PORT USER PASSWORD — the URL's role exists (login, createdb)
# and has the URL's password. Only for clusters this script created/installed.
pg_ensure_role() {
  local port=$1 user=$2 password=$3
  pg_local_psql "$port" -v u="$user" <<'SQL' || return 1
select format('create role %I login createdb', :'u')
 where not exists (select 1 from pg_roles where rolname = :'u')
\gexec
SQL
  if [[ -n $password ]]; then
    pg_local_psql "$port" -v u="$user" -v pw="$password" <<'SQL' || return 1
alter role :"u" with login password :'pw';
SQL
  fi
}

# start_postgres HOST PORT USER PASSWORD
# Debian: start the cluster configured for PORT with
#   pg_ctlcluster --skip-systemctl-redirect <version> <cluster> start
# (works without systemd). No cluster at all: pg_createcluster <newest> main.
start_postgres() {
  local host=$1 port=$2 user=$3 password=$4
  local ver name cport status target="" others=""
  if ! have_cmd pg_ctlcluster || ! have_cmd pg_lsclusters; then
    note "PostgreSQL is installed but pg_ctlcluster/pg_lsclusters (Debian postgresql-common) are not available;"
    note "start the server on port $port yourself (e.g. pg_ctl -D <datadir> -o '-p $port' start)."
    return 1
  fi
  while read -r ver name cport status; do
    [[ -n ${ver:-} ]] || continue
    if [[ $cport == "$port" ]]; then
      if [[ $status == online* ]]; then
        note "PostgreSQL cluster $ver/$name on port $port is already running; waiting for it to accept connections"
        return 0
      fi
      [[ -n $target ]] || target="$ver $name"
    else
      others+="${others:+, }$ver/$name (port $cport, $status)"
    fi
  done < <(pg_clusters)
  if [[ -n $target ]]; then
    read -r ver name <<<"$target"
    note "+ pg_ctlcluster --skip-systemctl-redirect $ver $name start"
    pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2
    return
  fi
  if [[ -n $others ]]; then
    note "no PostgreSQL cluster is configured for port $port (existing: $others);"
    note "start one of them and point DATABASE_URL at its port, or create one: pg_createcluster <version> <name> -p $port --start"
    return 1
  fi
  ver=$(pg_newest_version) || {
    note "cannot find a PostgreSQL server under /usr/lib/postgresql to create a cluster with"
    return 1
  }
  local -a initdb_auth=()
  # A brand-new dev cluster: trust loopback TCP unless the URL carries a password.
  [[ -n $password ]] || initdb_auth=(-- --auth-host=trust --auth-local=peer)
  note "+ pg_createcluster $ver main -p $port --start ${initdb_auth[*]}"
  pg_createcluster "$ver" main -p "$port" --start "${initdb_auth[@]}" >&2 || return 1
  if [[ $user != postgres || -n $password ]]; then
    pg_ensure_role "$port" "$user" "$password" >&2
  fi
}

# configure_postgres_auth HOST PORT USER PASSWORD
# Only after *we* installed PostgreSQL (fresh cluster with Debian's default
# scram auth on TCP): without a password in DATABASE_URL, trust 127.0.0.1/::1
# (dev norm); always make sure the URL's role exists and has its password.
configure_postgres_auth() {
  local host=$1 port=$2 user=$3 password=$4 hba tmp
  if [[ -z $password ]]; then
    hba=$(pg_local_psql "$port" -c 'show hba_file') || return 1
    if ! grep -q 'herald scripts/services.sh' "$hba"; then
      note "+ trusting loopback TCP connections in $hba (fresh development cluster)"
      tmp=$(mktemp) || return 1
      {
        printf '%s\n' '# added by herald scripts/services.sh: trust loopback TCP (fresh development cluster)'
        printf '%s\n' 'host all all 127.0.0.1/32 trust' 'host all all ::1/128 trust'
        cat "$hba"
      } >"$tmp" && cat "$tmp" >"$hba"
      rm -f "$tmp"
      pg_local_psql "$port" -c 'select pg_reload_conf()' >/dev/null || return 1
    fi
  fi
  if [[ $user != postgres || -n $password ]]; then
    pg_ensure_role "$port" "$user" "$password" >&2 || return 1
  fi
}

# database_exists HOST PORT USER PASSWORD DB
# 0 = exists, 1 = does not exist, 2 = could not check (message on stderr).
database_exists() {
  local host=$1 port=$2 user=$3 password=$4 db=$5 out rc=0
  if have_cmd psql; then
    pg_client_env "$host" "$port" "$user" "$password"
    out=$(env "${PG_ENV[@]}" psql -X -w -q -At -v ON_ERROR_STOP=1 -v dbname="$db" <<'SQL'
select count(*) from pg_database where datname = :'dbname';
SQL
    ) || return 2
  else
    out=$(node_pg exists "$host" "$port" "$user" "$password" "$db") || rc=$?
    if ((rc == 3)); then
      note "neither psql nor node with the pg package is available to check the database"
      return 2
    fi
    ((rc == 0)) || return 2
  fi
  case $out in
    1 | exists) return 0 ;;
    0 | missing) return 1 ;;
    *) return 2 ;;
  esac
}

# create_database HOST PORT USER PASSWORD DB — idempotent, identifier quoted
# by the server (format %I) or by pg's escapeIdentifier in the node fallback.
create_database() {
  local host=$1 port=$2 user=$3 password=$4 db=$5
  if have_cmd psql; then
    pg_client_env "$host" "$port" "$user" "$password"
    env "${PG_ENV[@]}" psql -X -w -q -At -v ON_ERROR_STOP=1 -v dbname="$db" >&2 <<'SQL'
select format('create database %I', :'dbname')
 where not exists (select 1 from pg_database where datname = :'dbname')
\gexec
SQL
  else
    node_pg create "$host" "$port" "$user" "$password" "$db" >/dev/null
  fi
}

# --- Redis -------------------------------------------------------------------

# resp_append ARG… — append one command, RESP-encoded, to RESP_PAYLOAD.
resp_append() {
  local LC_ALL=C arg # byte lengths
  printf -v arg '*%d\r\n' "$#"
  RESP_PAYLOAD+=$arg
  for arg in "$@"; do
    RESP_PAYLOAD+="\$${#arg}"$'\r\n'"$arg"$'\r\n'
  done
}

# probe_redis HOST PORT USER PASSWORD — PING answers PONG.
# redis-cli if available, else raw RESP over bash /dev/tcp.
probe_redis() {
  local host=$1 port=$2 user=$3 password=$4 out
  if have_cmd redis-cli; then
    local -a envs=() args=(-h "$host" -p "$port")
    [[ -z $password ]] || envs+=(REDISCLI_AUTH="$password")
    [[ -z $user ]] || args+=(--user "$user")
    [[ ${REDIS_SCHEME:-redis} != rediss ]] || args+=(--tls)
    out=$(with_timeout 5 env "${envs[@]}" redis-cli "${args[@]}" ping 2>/dev/null) || return 1
    [[ $out == PONG ]]
    return
  fi
  [[ ${REDIS_SCHEME:-redis} != rediss ]] || return 1 # no TLS over /dev/tcp
  # connect with a time limit first; the second connect below is then quick
  port_open "$host" "$port" || return 1
  RESP_PAYLOAD=""
  if [[ -n $password && -n $user ]]; then
    resp_append AUTH "$user" "$password"
  elif [[ -n $password ]]; then
    resp_append AUTH "$password"
  fi
  resp_append PING
  out=$(
    exec 3<>"/dev/tcp/$host/$port" || exit 1
    printf '%s' "$RESP_PAYLOAD" >&3
    n=1
    [[ -z $password ]] || n=2
    for ((i = 0; i < n; i++)); do
      IFS= read -r -t 3 line <&3 || exit 1
      printf '%s\n' "${line%$'\r'}"
    done
  ) 2>/dev/null || return 1
  [[ $(tail -n1 <<<"$out") == +PONG ]]
}

redis_installed() { have_cmd redis-server; }

# redis_conf_quote VALUE — double-quoted redis.conf string.
redis_conf_quote() {
  local v=${1//\\/\\\\}
  v=${v//\"/\\\"}
  printf '"%s"' "$v"
}

# start_redis HOST PORT USER PASSWORD — our own daemon: loopback only, data in
# ${HERALD_STATE_DIR}/redis, AOF on, noeviction (what BullMQ needs).
start_redis() {
  local host=$1 port=$2 user=$3 password=$4
  local dir="${HERALD_STATE_DIR:-${HERALD_ROOT:-.}/.herald}/redis"
  mkdir -p "$dir" || return 1
  dir=$(cd "$dir" && pwd) || return 1
  local -a args=()
  if [[ -n $password ]]; then
    # credentials go into a private config file rather than onto the command line
    local conf="$dir/redis-auth.conf"
    (
      umask 077
      rm -f "$conf"
      if [[ -z $user || $user == default ]]; then
        printf 'requirepass %s\n' "$(redis_conf_quote "$password")" >"$conf"
      else
        printf 'user %s on %s ~* &* +@all\n' "$(redis_conf_quote "$user")" "$(redis_conf_quote ">$password")" >"$conf"
      fi
    ) || return 1
    args+=("$conf")
  fi
  local -a bind=(127.0.0.1)
  case $host in
    ::1) bind+=(::1) ;;
    localhost) bind+=(-::1) ;;
  esac
  args+=(
    --daemonize yes --bind "${bind[@]}" --port "$port"
    --dir "$dir" --appendonly yes --maxmemory-policy noeviction
    --logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
  )
  note "+ redis-server ${args[*]}"
  redis-server "${args[@]}" >&2
}

# ---------------------------------------------------------------------------
# decision logic

# wait_until SECONDS CMD… — retry CMD once a second, bounded.
wait_until() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs; i++)); do
    "$@" && return 0
    pause 1
  done
  "$@"
}

# install_blocker — sets INSTALL_BLOCKER to why we cannot apt-get install
# (empty when we can).
install_blocker() {
  INSTALL_BLOCKER=""
  if ! is_root; then
    INSTALL_BLOCKER="not running as root"
  elif ! is_debian; then
    INSTALL_BLOCKER="not a Debian/Ubuntu system (no /etc/debian_version)"
  elif ! has_apt; then
    INSTALL_BLOCKER="apt-get not found"
  fi
}

# ensure_postgres — decision: reachable | started | installed (else fails with
# unreachable | missing | failed), then make sure the database exists.
ensure_postgres() {
  if ! parse_database_url; then
    note "postgres: failed — invalid DATABASE_URL (see above)"
    return 1
  fi
  local where decision plan="" timeout=$HERALD_SERVICES_TIMEOUT
  local -a creds=("$PG_HOST" "$PG_PORT" "$PG_USER" "$PG_PASSWORD")
  where=$(fmt_hostport "$PG_HOST" "$PG_PORT")

  if probe_postgres "${creds[@]}"; then
    decision=reachable
  elif ! is_loopback "$PG_HOST"; then
    note "postgres: unreachable at $where — PostgreSQL does not answer at $where and $PG_HOST is not a loopback host, so nothing was started or installed (start it there or fix DATABASE_URL)"
    return 1
  elif pg_installed; then
    decision=started
    if ((DRY_RUN)); then
      plan="dry run: would start the local server (Debian: pg_ctlcluster --skip-systemctl-redirect <version> <cluster> start), wait up to ${timeout}s, then create database $PG_DB if missing"
    else
      if ! start_postgres "${creds[@]}"; then
        note "postgres: failed at $where — PostgreSQL is installed but could not be started (see messages above)"
        return 1
      fi
      if ! wait_until "$timeout" probe_postgres "${creds[@]}"; then
        note "postgres: failed at $where — PostgreSQL was started but did not answer within ${timeout}s (see /var/log/postgresql/)"
        return 1
      fi
    fi
  else
    install_blocker
    if [[ -n $INSTALL_BLOCKER ]]; then
      note "postgres: missing at $where — PostgreSQL is not reachable at $where and not installed: install PostgreSQL 15+ (Debian: apt-get install postgresql) or set DATABASE_URL (automatic install skipped: $INSTALL_BLOCKER)"
      return 1
    fi
    decision=installed
    if ((DRY_RUN)); then
      plan="dry run: would run apt-get update && apt-get install -y postgresql postgresql-client, start the server, then create database $PG_DB"
    else
      if ! apt_update_once || ! apt_install postgresql postgresql-client; then
        note "postgres: failed at $where — apt-get could not install postgresql (see messages above)"
        return 1
      fi
      if ! pg_installed; then
        note "postgres: failed at $where — apt-get succeeded but no PostgreSQL server binary was found"
        return 1
      fi
      if ! probe_postgres "${creds[@]}" && ! start_postgres "${creds[@]}"; then
        note "postgres: failed at $where — PostgreSQL was installed but could not be started (see messages above)"
        return 1
      fi
      if ! wait_until "$timeout" probe_postgres "${creds[@]}"; then
        note "postgres: failed at $where — PostgreSQL was installed and started but did not answer within ${timeout}s (see /var/log/postgresql/)"
        return 1
      fi
      if ! configure_postgres_auth "${creds[@]}"; then
        note "postgres: failed at $where — could not set up access for role $PG_USER on the new cluster (see messages above)"
        return 1
      fi
    fi
  fi

  if [[ -n $plan ]]; then
    say "postgres: $decision at $where ($plan)"
    return 0
  fi

  local rc=0 dbstate
  database_exists "${creds[@]}" "$PG_DB" || rc=$?
  case $rc in
    0) dbstate="database $PG_DB ready" ;;
    1)
      if ((DRY_RUN)); then
        dbstate="dry run: would create database $PG_DB"
      elif create_database "${creds[@]}" "$PG_DB"; then
        dbstate="database $PG_DB created"
      else
        note "postgres: failed at $where — could not create database $PG_DB as role $PG_USER (see messages above)"
        return 1
      fi
      ;;
    *)
      note "postgres: failed at $where — the server answers but connecting as role $PG_USER to the postgres database failed (see messages above); dev setups usually trust the postgres role on 127.0.0.1, otherwise put the password in DATABASE_URL"
      return 1
      ;;
  esac
  say "postgres: $decision at $where ($dbstate)"
}

# ensure_redis — decision: reachable | started | installed (else fails with
# unreachable | missing | failed).
ensure_redis() {
  if ! parse_redis_url; then
    note "redis: failed — invalid REDIS_URL (see above)"
    return 1
  fi
  local where decision plan="" timeout=$HERALD_SERVICES_TIMEOUT
  local -a creds=("$REDIS_HOST" "$REDIS_PORT" "$REDIS_USER" "$REDIS_PASSWORD")
  local dir="${HERALD_STATE_DIR:-${HERALD_ROOT:-.}/.herald}/redis"
  where=$(fmt_hostport "$REDIS_HOST" "$REDIS_PORT")

  if probe_redis "${creds[@]}"; then
    decision=reachable
  elif ! is_loopback "$REDIS_HOST"; then
    note "redis: unreachable at $where — Redis does not answer at $where and $REDIS_HOST is not a loopback host, so nothing was started or installed (start it there or fix REDIS_URL)"
    return 1
  elif [[ $REDIS_SCHEME == rediss ]]; then
    note "redis: failed at $where — Redis does not answer over TLS (rediss://) and this script does not start TLS servers; use redis:// for a local server"
    return 1
  elif port_open "$REDIS_HOST" "$REDIS_PORT"; then
    note "redis: failed at $where — something is listening at $where but it does not answer PING with PONG (not Redis, or wrong credentials in REDIS_URL?); not starting another server"
    return 1
  elif redis_installed; then
    decision=started
    if ((DRY_RUN)); then
      plan="dry run: would run redis-server --daemonize yes --bind 127.0.0.1 --port $REDIS_PORT --dir $dir --appendonly yes --maxmemory-policy noeviction, then wait up to ${timeout}s"
    else
      if ! start_redis "${creds[@]}"; then
        note "redis: failed at $where — redis-server could not be started (see messages above)"
        return 1
      fi
      if ! wait_until "$timeout" probe_redis "${creds[@]}"; then
        note "redis: failed at $where — redis-server was started but did not answer within ${timeout}s (see $dir/redis.log)"
        return 1
      fi
    fi
  else
    install_blocker
    if [[ -n $INSTALL_BLOCKER ]]; then
      note "redis: missing at $where — Redis is not reachable at $where and not installed: install Redis 6.2+ (Debian: apt-get install redis-server) or set REDIS_URL (automatic install skipped: $INSTALL_BLOCKER)"
      return 1
    fi
    decision=installed
    if ((DRY_RUN)); then
      plan="dry run: would run apt-get update && apt-get install -y redis-server redis-tools, then start redis-server on port $REDIS_PORT"
    else
      if ! apt_update_once || ! apt_install redis-server redis-tools; then
        note "redis: failed at $where — apt-get could not install redis-server (see messages above)"
        return 1
      fi
      if ! redis_installed; then
        note "redis: failed at $where — apt-get succeeded but redis-server was not found"
        return 1
      fi
      if ! probe_redis "${creds[@]}" && ! start_redis "${creds[@]}"; then
        note "redis: failed at $where — Redis was installed but could not be started (see messages above)"
        return 1
      fi
      if ! wait_until "$timeout" probe_redis "${creds[@]}"; then
        note "redis: failed at $where — Redis was installed and started but did not answer within ${timeout}s (see $dir/redis.log)"
        return 1
      fi
    fi
  fi

  if [[ -n $plan ]]; then
    say "redis: $decision at $where ($plan)"
  else
    say "redis: $decision at $where"
  fi
}

services_usage() {
  cat <<'EOF'
Usage: scripts/services.sh [--dry-run] [--only postgres|redis]

Makes PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/herald)
and Redis (REDIS_URL, default redis://127.0.0.1:6379) reachable. For each service:
  reachable  it already answers                        -> nothing to do
  started    installed locally, loopback host           -> start it, wait (HERALD_SERVICES_TIMEOUT, 30s)
  installed  root on Debian/Ubuntu with apt-get         -> apt-get install, then start it
  missing    otherwise                                  -> exit 1 with what to install
Remote (non-loopback) hosts are never started or installed. Afterwards the
database named in DATABASE_URL is created if it does not exist.

  --dry-run       print the decisions and plan; change nothing
  --only NAME     handle only postgres or redis

Environment: DATABASE_URL, REDIS_URL, HERALD_STATE_DIR (Redis data dir parent,
default <repo>/.herald), HERALD_SERVICES_TIMEOUT, HERALD_SERVICES_STUBS (tests).
EOF
}

# services_main ARG…
services_main() {
  local only="" rc=0 svc
  while (($#)); do
    case $1 in
      --dry-run) DRY_RUN=1 ;;
      --only)
        if (($# < 2)); then
          note "--only needs an argument (postgres|redis)"
          return 2
        fi
        only=$2
        shift
        ;;
      --only=*) only=${1#--only=} ;;
      -h | --help)
        services_usage
        return 0
        ;;
      *)
        note "unknown argument: $1"
        services_usage >&2
        return 2
        ;;
    esac
    shift
  done
  case $only in
    '' | postgres | redis) ;;
    *)
      note "--only must be postgres or redis (got '$only')"
      return 2
      ;;
  esac
  if ! [[ $HERALD_SERVICES_TIMEOUT =~ ^[0-9]+$ ]]; then
    note "HERALD_SERVICES_TIMEOUT must be a whole number of seconds (got '$HERALD_SERVICES_TIMEOUT')"
    return 2
  fi
  ((DRY_RUN)) && note "dry run: nothing will be started, installed or created"
  for svc in postgres redis; do
    [[ -z $only || $only == "$svc" ]] || continue
    "ensure_$svc" || rc=1
  done
  return "$rc"
}
