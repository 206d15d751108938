#!/bin/sh
# Sourced (POSIX sh: npm runs scripts with /bin/sh) from the project root by the npm scripts and
# scripts/up.sh: gives HERALD_MASTER_KEY a development value when the environment has none, generated
# once and kept in .herald/master.key (git-ignored). Production sets HERALD_MASTER_KEY itself; losing
# this file makes stored credentials unreadable.
herald_root="$(pwd)"
if [ ! -f "$herald_root/package.json" ] || [ ! -f "$herald_root/scripts/dev-env.sh" ]; then
  echo "scripts/dev-env.sh must be sourced from the Herald project root (now: $herald_root)" >&2
  return 1 2>/dev/null || exit 1
fi
if [ -z "${HERALD_MASTER_KEY:-}" ]; then
  key_file="${HERALD_STATE_DIR:-$herald_root/.herald}/master.key"
  if [ ! -s "$key_file" ]; then
    mkdir -p "$(dirname "$key_file")"
    (umask 077 && node -e "process.stdout.write(require('crypto').randomBytes(32).toString('base64'))" >"$key_file")
    echo "generated a development master key in $key_file"
  fi
  HERALD_MASTER_KEY="$(cat "$key_file")"
  export HERALD_MASTER_KEY
fi
