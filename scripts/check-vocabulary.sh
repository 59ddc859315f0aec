#!/usr/bin/env bash
# Keeps two boundaries, failing with the offending lines:
#
# 1. One vocabulary. Status, role and kind words are `src/domain/`'s typed enums, spelled
#    for the database only there (`as_db`/`from_db`); services, policy, events and the
#    GraphQL enums use the enums. A quoted word from that vocabulary anywhere else in `src/`
#    is a spelling that can drift. (`entity/` and `migration/` are the persistence mapping
#    and the frozen schema history, outside `src/`.) "error" and "customer" are left out of
#    the list, and so are the resource words ("gpu", "cpu", "memory") and "ready": they are
#    also protocol words, labels and field names ("type": "error", NotFound("customer")). A
#    line that quotes such a word for another reason says so with `// vocabulary: <why>`.
#
# 2. Thin resolvers. Nothing in `src/graphql/` publishes an event, and no resolver builds an
#    entity `ActiveModel` outside the generic CRUD input conversion (`impl CreateInput` /
#    `impl UpdateInput` blocks, and `crud.rs`, where those traits live).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

words='owner|admin|member|viewer|active|invited|suspended|deleted|archived|online|offline|maintenance|healthy|degraded|unhealthy|unknown|available|allocated|released|creating|starting|running|stopping|stopped|deleting|failed|pending|success|timeout|cancelled|run|cancel|draft|issued|paid|void|uploading|readonly|readwrite|individual|enterprise|personal|team|traditional|kubernetes|linux|windows|ssh|jupyter|rdp|stdout|stderr|declined'

status=0

vocabulary=$(grep -rnE --include='*.rs' "\"($words)\"" src |
    grep -v '^src/domain/' | grep -v '// vocabulary: ' || true)
if [[ -n "$vocabulary" ]]; then
    echo "status/role/kind words spelled outside src/domain/ (use the domain enums):" >&2
    echo "$vocabulary" >&2
    status=1
fi

publishes=$(grep -rn --include='*.rs' '\.publish(' src/graphql || true)
if [[ -n "$publishes" ]]; then
    echo "resolvers publishing events (services publish their own):" >&2
    echo "$publishes" >&2
    status=1
fi

rows=$(for f in src/graphql/*.rs; do
    case "$f" in src/graphql/crud.rs) continue ;; esac
    awk '/^impl (CreateInput|UpdateInput) for /{inside=1}
         inside && /^}/{inside=0; next}
         !inside && /ActiveModel/ {print FILENAME ":" FNR ": " $0}' "$f"
done)
if [[ -n "$rows" ]]; then
    echo "resolvers building entity rows (a service builds them):" >&2
    echo "$rows" >&2
    status=1
fi

[[ $status -eq 0 ]] && echo "vocabulary and resolver boundaries hold"
exit $status
