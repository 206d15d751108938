#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# Make PostgreSQL and Redis reachable on loopback for Herald, idempotently.
#
#   bash scripts/services.sh [--dry-run] [--only postgres|redis]
#
# Per service: reachable -> use it; installed locally (loopback host) -> start
# it; root on Debian/Ubuntu -> apt-get install, then start; otherwise fail with
# what to install. Then the database named in DATABASE_URL is created if
# missing. Prints one line per service, e.g.
#   postgres: reachable at 127.0.0.1:5432 (database herald ready)
#   redis: started at 127.0.0.1:6379
# See scripts/lib/services-lib.sh for the details; `--help` for options.
#
# Testing: HERALD_SERVICES_STUBS=/path/stubs.sh is sourced after the library
# and may override any function in SERVICES_EFFECT_FUNCTIONS. With
# HERALD_SERVICES_STUBS_STRICT=1 the script refuses to run unless the stubs
# override all of them (so a test can never touch the real machine).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HERALD_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
export HERALD_ROOT
if [[ -n ${HERALD_STATE_DIR:-} && $HERALD_STATE_DIR != /* ]]; then
  HERALD_STATE_DIR="$PWD/$HERALD_STATE_DIR"
fi

# shellcheck source=lib/services-lib.sh
source "$SCRIPT_DIR/lib/services-lib.sh"

if [[ -n ${HERALD_SERVICES_STUBS:-} ]]; then
  declare -A _real_fn=()
  for _fn in "${SERVICES_EFFECT_FUNCTIONS[@]}"; do
    _real_fn[$_fn]=$(declare -f "$_fn")
  done
  # shellcheck source=/dev/null
  source "$HERALD_SERVICES_STUBS"
  if [[ ${HERALD_SERVICES_STUBS_STRICT:-0} == 1 ]]; then
    for _fn in "${SERVICES_EFFECT_FUNCTIONS[@]}"; do
      if [[ $(declare -f "$_fn") == "${_real_fn[$_fn]}" ]]; then
        echo "services.sh: $HERALD_SERVICES_STUBS does not override $_fn (strict stubs)" >&2
        exit 3
      fi
    done
  fi
  unset _real_fn _fn
fi

services_main "$@"
