#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# Make a headless Chromium available for the console's browser test (test/e2e/console.e2e-spec.ts),
# idempotently, the way scripts/services.sh makes PostgreSQL and Redis available:
#
#   bash scripts/browser.sh [--dry-run]
#
# HERALD_CHROMIUM (a path) or Debian's /usr/bin/chromium present -> use it; root on Debian/Ubuntu ->
# apt-get install chromium (and fonts-wqy-microhei, a 5 MB CJK font, so the Chinese UI renders in the
# test's screenshots rather than as empty boxes); otherwise fail and say what to install. No browser is ever downloaded
# from anywhere but the OS packages (playwright-core drives this binary through executablePath).
# Prints one line, e.g. `chromium: found at /usr/bin/chromium`.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/services-lib.sh
source "$SCRIPT_DIR/lib/services-lib.sh"

[[ ${1:-} == --dry-run ]] && DRY_RUN=1

CHROMIUM=${HERALD_CHROMIUM:-/usr/bin/chromium}

has_cjk_font() { have_cmd fc-list && [[ -n $(fc-list :lang=zh family 2>/dev/null | head -n 1) ]]; }

PACKAGES=()
[[ -x $CHROMIUM ]] || PACKAGES+=(chromium)
# Only worth adding to a Debian chromium; a browser given by HERALD_CHROMIUM brings its own setup.
[[ -z ${HERALD_CHROMIUM:-} ]] && ! has_cjk_font && PACKAGES+=(fonts-wqy-microhei)

if ((${#PACKAGES[@]} == 0)); then
  say "chromium: found at $CHROMIUM"
  exit 0
fi

install_blocker
if [[ -n $INSTALL_BLOCKER ]]; then
  if [[ -x $CHROMIUM ]]; then
    # Chinese text shows as boxes in screenshots; the test itself still passes.
    note "chromium: found at $CHROMIUM (no CJK font: install fonts-wqy-microhei for readable Chinese screenshots)"
    exit 0
  fi
  note "chromium: missing at $CHROMIUM — install it (Debian: apt-get install chromium) or set HERALD_CHROMIUM to a Chromium binary (automatic install skipped: $INSTALL_BLOCKER)"
  exit 1
fi
if ((DRY_RUN)); then
  say "chromium: dry run: would run apt-get update && apt-get install -y ${PACKAGES[*]}"
  exit 0
fi
if ! apt_update_once || ! apt_install "${PACKAGES[@]}"; then
  note "chromium: failed — apt-get could not install ${PACKAGES[*]} (see messages above)"
  exit 1
fi
if [[ ! -x $CHROMIUM ]]; then
  note "chromium: apt-get succeeded but $CHROMIUM is missing; set HERALD_CHROMIUM"
  exit 1
fi
say "chromium: installed ${PACKAGES[*]}; browser at $CHROMIUM"
