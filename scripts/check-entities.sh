#!/usr/bin/env bash
# Entity drift check: entity/src must be exactly what sea-orm-cli generates from the
# PostgreSQL schema that the migrations build.
#
#   scripts/check-entities.sh          check (CI): exits 1 and prints the diff on drift
#   scripts/check-entities.sh --write  regenerate entity/src in place (after a migration change)
#
# It creates a uniquely named scratch database on the server of REMOTEGPU_TEST_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/postgres; the role must be allowed to CREATE
# DATABASE), runs `cargo run -p migration` against it, generates the entities into a temporary
# directory and compares. The scratch database is dropped on exit, whatever happens.
# Needs cargo, psql and sea-orm-cli (installed at the pinned version when missing).
set -euo pipefail

SEA_ORM_CLI_VERSION=1.1.20
# The generator flags: entity/src is generated with exactly these (defaults spelled out so a
# changed default cannot change the output).
GENERATE_FLAGS=(
    --lib
    --compact-format
    --with-serde none
    --date-time-crate chrono
    --ignore-tables seaql_migrations
)

usage() {
    sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

mode=check
case "${1:-}" in
    "") ;;
    --write) mode=write ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        exit 2
        ;;
esac

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

base_url=${REMOTEGPU_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

# with_database URL NAME: the URL of database NAME on the server of URL (query string kept).
with_database() {
    local url=$1 name=$2 query=""
    if [[ $url == *\?* ]]; then
        query="?${url#*\?}"
        url=${url%%\?*}
    fi
    if [[ ${url#*://} == */* ]]; then
        url=${url%/*}
    fi
    printf '%s/%s%s' "$url" "$name" "$query"
}

die() {
    echo "check-entities: $*" >&2
    exit 1
}

command -v psql >/dev/null || die "psql (the PostgreSQL client) is required"

installed=$(sea-orm-cli --version 2>/dev/null || true)
if [[ $installed != "sea-orm-cli $SEA_ORM_CLI_VERSION" ]]; then
    echo "check-entities: installing sea-orm-cli $SEA_ORM_CLI_VERSION (found: ${installed:-none})" >&2
    cargo install sea-orm-cli --version "=$SEA_ORM_CLI_VERSION" --locked \
        --no-default-features --features codegen,sqlx-postgres,runtime-tokio
fi

db="remotegpu_entities_$$_$(date +%s)"
db_url=$(with_database "$base_url" "$db")
tmp=$(mktemp -d)

cleanup() {
    psql "$base_url" -q -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
        echo "check-entities: warning: could not drop scratch database $db" >&2
    rm -rf "$tmp"
}
trap cleanup EXIT

psql "$base_url" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\"" >/dev/null ||
    die "cannot create a scratch database via $base_url (is PostgreSQL running?)"

DATABASE_URL=$db_url cargo run -q -p migration || die "migrations failed on PostgreSQL"

if ! sea-orm-cli generate entity --database-url "$db_url" --output-dir "$tmp/src" \
    "${GENERATE_FLAGS[@]}" >"$tmp/generate.log" 2>&1; then
    cat "$tmp/generate.log" >&2
    die "sea-orm-cli generate entity failed"
fi
# sea-orm-cli already runs rustfmt; run it again with the repository's settings so that the
# result is what `cargo fmt` keeps.
rustfmt --config-path rustfmt.toml "$tmp"/src/*.rs

# DECIMAL columns become `Numeric` (entity/src/numeric.rs, the one hand-written file there,
# kept as it is), which reads them exactly on both backends: sea-orm reads a SQLite DECIMAL
# through an f64.
for f in "$tmp"/src/*.rs; do
    sed -i -E 's/^(    pub [a-z_0-9]+: )(Option<)?Decimal(>)?,$/\1\2crate::numeric::Numeric\3,/' "$f"
done
cp entity/src/numeric.rs "$tmp/src/numeric.rs"
sed -i 's/^pub mod prelude;$/pub mod numeric;\npub mod prelude;/' "$tmp/src/lib.rs"
rustfmt --config-path rustfmt.toml "$tmp"/src/*.rs

if [[ $mode == write ]]; then
    rm -rf entity/src
    cp -R "$tmp/src" entity/src
    echo "check-entities: regenerated entity/src"
    exit 0
fi

if ! diff -ru entity/src "$tmp/src"; then
    echo >&2
    die "entity/src does not match the migrated schema (drift above, '+' = generated)." \
        "Run scripts/check-entities.sh --write and commit the result."
fi
echo "check-entities: entity/src matches the migrated schema"
