#!/usr/bin/env bash
# The console's checks, in the order CI runs them (.ci/run calls this):
#   npm ci, generated types match schema.graphql, vue-tsc --noEmit, vite build (prints the
#   production bundle size), then the browser tests against the real server and agent.
#
# Needs Node.js >= 20.19 with npm, and for the browser tests Debian's Chromium
# (`apt-get install -y chromium`; CHROMIUM_PATH to use another). This script installs nothing
# outside console/node_modules. Without Chromium the browser tests are skipped with a
# message, or fail when CI=true. The binaries come from ${CARGO_TARGET_DIR:-target}/debug,
# built (incrementally) with cargo first; REMOTEGPU_BIN_DIR points at prebuilt ones instead.
# Screenshots land in console/e2e/screenshots/ (REMOTEGPU_E2E_SCREENSHOTS to move them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

step() { printf '\n==> console: %s\n' "$*"; }
loud() { printf '\n!!!!!!!!\n!!! %s\n!!!!!!!!\n' "$*" >&2; }

if ! command -v npm >/dev/null 2>&1; then
    loud "npm is not installed: the console cannot be checked (install Node.js >= 20.19)"
    exit 1
fi

cd console
step "npm ci"
npm ci --no-audit --no-fund

step "generated types match schema.graphql (npm run codegen:check)"
if ! npx graphql-codegen --config codegen.ts --check; then
    loud "console/src/gql/ is stale: run 'npm run codegen' in console/ and commit the result"
    exit 1
fi

step "vue-tsc --noEmit"
npx vue-tsc --noEmit

step "vite build"
npx vite build

step "browser tests"
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
    if [[ "${CI:-}" == "true" ]]; then
        loud "Chromium is missing ($chromium): the browser tests cannot run. Install it: apt-get update && apt-get install -y chromium"
        exit 1
    fi
    loud "SKIPPED the browser tests: Chromium is missing ($chromium). Install it: apt-get install -y chromium"
    exit 0
fi
if [[ -z "${REMOTEGPU_BIN_DIR:-}" ]]; then
    # The console was just built, so the build script finds it current.
    (cd "$root" && cargo build -p remotegpu -p remotegpu-agent)
fi
CHROMIUM_PATH="$chromium" node e2e/run.mjs
