#!/usr/bin/env bash
# Sourced by the npm scripts that run Herald on this machine: gives HERALD_MASTER_KEY a development
# value when the environment has none, generated once and kept in .herald/master.key (git-ignored).
# Production sets HERALD_MASTER_KEY itself; losing this file makes stored credentials unreadable.
herald_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
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
