#!/usr/bin/env bash
# `npm run up`: from a clean clone to a running Herald on this machine.
# Installs dependencies if missing, makes PostgreSQL and Redis reachable, builds, migrates, seeds the
# demo tenant and app (printing their credentials), then runs api + worker + gateway in one process.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

step "local services"
bash scripts/services.sh

# shellcheck source=scripts/dev-env.sh
. scripts/dev-env.sh

step "building"
npm run build

step "migrating"
node dist/apps/herald/main.js migrate

step "seeding demo data"
node dist/apps/herald/main.js seed

step "starting Herald"
exec node dist/apps/herald/main.js serve
