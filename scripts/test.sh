#!/usr/bin/env bash
# Every test of the project, as the README's test command:
#   1. the console: generated types match schema.graphql, vue-tsc, production build (its size
#      printed), browser tests in headless Chromium against the real server and agent
#      (scripts/console-test.sh; skipped with a loud message without Chromium, except under CI);
#   2. the Rust workspace: unit and integration tests on SQLite, and on PostgreSQL and a Docker
#      Engine where reachable (required under CI=true).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/console-test.sh
cargo test --workspace
