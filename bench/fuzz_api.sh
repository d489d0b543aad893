#!/usr/bin/env bash
# The long schemathesis run against the live API (docs/benchmarks.md, "API fuzzing"): every
# check, on SQLite and on PostgreSQL, once with a regulator's and once with an enterprise's
# bearer token, on a freshly seeded demo district served over loopback (api/demo/fuzz.py).
# The bounded version of the same run is tests/api/rest/test_openapi_fuzz.py.
#
#   bench/fuzz_api.sh                 # both databases, MAX_EXAMPLES=200 per operation
#   MAX_EXAMPLES=50 DATABASES=sqlite bench/fuzz_api.sh
#   ROLES=enterprise DATABASES=postgresql bench/fuzz_api.sh   # one token, one database
#
# Requests are counted from the server's own access log (one line per request), so the figure
# is what the server answered, whatever schemathesis's phases did. Exit status 0 only if every
# run found no failure and the server answered no 5xx.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
ST=${ST:-.venv/bin/st}
MAX_EXAMPLES=${MAX_EXAMPLES:-200}
SEED=${SEED:-20261203}
DATABASES=${DATABASES:-"sqlite postgresql"}
ROLES=${ROLES:-"regulator enterprise"}
PG_URL=${WASTE_LEDGER_TEST_PG:-postgresql+psycopg://postgres@127.0.0.1:5432/test}
OUT=${OUT:-bench/out/fuzz}
mkdir -p "$OUT"
status=0

start_target() {  # $1 database kind, $2 directory; sets URL, PID
    local db
    if [ "$1" = sqlite ]; then
        db="sqlite:///$(realpath "$2")/ledger.db"
    else
        local schema="fuzz_$(date +%s)_$$"
        "$PY" - "$PG_URL" "$schema" <<'EOF'
import sys
from sqlalchemy import create_engine, text
with create_engine(sys.argv[1]).begin() as c:
    c.execute(text(f'CREATE SCHEMA "{sys.argv[2]}"'))
EOF
        echo "$schema" > "$2/pg_schema"
        db="$PG_URL?options=-csearch_path%3D$schema"
    fi
    "$PY" -m api.demo.fuzz --database "$db" --dir "$2" > "$2/server.out" 2> "$2/server.log" &
    PID=$!
    for _ in $(seq 120); do [ -s "$2/target.json" ] && break; sleep 1; done
    URL=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['url'])" "$2/target.json")
}

stop_target() {  # $1 directory
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    if [ -f "$1/pg_schema" ]; then
        "$PY" - "$PG_URL" "$(cat "$1/pg_schema")" <<'EOF'
import sys
from sqlalchemy import create_engine, text
with create_engine(sys.argv[1]).begin() as c:
    c.execute(text(f'DROP SCHEMA "{sys.argv[2]}" CASCADE'))
EOF
    fi
}

for kind in $DATABASES; do
    for role in $ROLES; do
        dir="$OUT/$kind-$role"
        rm -rf "$dir" && mkdir -p "$dir"
        start_target "$kind" "$dir"
        token=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['$role'])" \
                "$dir/target.json")
        before=$(grep -c '" [0-9][0-9][0-9] ' "$dir/server.log" || true)
        started=$(date +%s)
        rc=0
        "$ST" --config-file tests/api/rest/schemathesis.toml run "$URL/api/v1/openapi.json" \
            --checks all --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers 2 \
            --header "Authorization: Bearer $token" --output-truncate false \
            > "$dir/schemathesis.log" 2>&1 || rc=$?
        seconds=$(( $(date +%s) - started ))
        stop_target "$dir"
        after=$(grep -c '" [0-9][0-9][0-9] ' "$dir/server.log" || true)
        requests=$(( after - before ))
        errors=$(grep -c '" 5[0-9][0-9] ' "$dir/server.log" || true)
        cases=$(grep -Eo '[0-9]+ generated' "$dir/schemathesis.log" | tail -1 || true)
        verdict=$(grep -E '^=+ .* in [0-9.]+s =+$' "$dir/schemathesis.log" | tail -1 || true)
        echo "$kind $role: requests=$requests 5xx=$errors cases=${cases% generated}" \
             "seconds=$seconds schemathesis_exit=$rc  $verdict"
        if [ "$rc" != 0 ] || [ "$errors" != 0 ]; then status=1; fi
    done
done
exit $status
