#!/usr/bin/env bash
# planledger's benchmark, in one run on this machine (see bench/README.md):
# the limits (a bare actix-web handler, pgbench), the national dataset on
# PostgreSQL and SQLite, planledger's figures under wrk, commit → long-poll
# latency, peak RSS; then one table, written to bench/results/latest.md.
#
#   bench/run.sh           the full run (release build, 290 municipalities, 1,000,000 events)
#   bench/run.sh --smoke   a small run (debug build, tiny data, short loads) that fails only
#                          when the benchmark itself breaks, never on a ratio
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUN_STARTED=$(date +%s)

MODE=full
case "${1:-}" in
    --smoke) MODE=smoke ;;
    "") ;;
    *) echo "usage: bench/run.sh [--smoke]" >&2; exit 2 ;;
esac

if [ "$MODE" = full ]; then
    PROFILE=release; CARGO_PROFILE=(--release)
    MUNICIPALITIES=290; PG_EVENTS=1000000; SQLITE_EVENTS=1000000
    DURATION=6; FIRST_PASS=2; SAMPLES=300; PGBENCH_SCALE=10; FILL_BATCH=5000
    PORT_BASE=18080; DB_SUFFIX=""
    OUT="$ROOT/bench/results/latest.md"
else
    PROFILE=debug; CARGO_PROFILE=()
    MUNICIPALITIES=3; PG_EVENTS=3000; SQLITE_EVENTS=3000
    DURATION=2; FIRST_PASS=1; SAMPLES=20; PGBENCH_SCALE=1; FILL_BATCH=500
    PORT_BASE=18180; DB_SUFFIX="_smoke"; SMOKE_CONNECTIONS=8
    OUT="$ROOT/target/bench/smoke.md"
fi
# Any of these may be set from outside to try things out, e.g. BENCH_PROFILE=release bench/run.sh --smoke.
PROFILE=${BENCH_PROFILE:-$PROFILE}; [ "$PROFILE" = release ] && CARGO_PROFILE=(--release) || CARGO_PROFILE=()
MUNICIPALITIES=${BENCH_MUNICIPALITIES:-$MUNICIPALITIES}
PG_EVENTS=${BENCH_PG_EVENTS:-$PG_EVENTS}; SQLITE_EVENTS=${BENCH_SQLITE_EVENTS:-$SQLITE_EVENTS}
DURATION=${BENCH_DURATION:-$DURATION}; SAMPLES=${BENCH_SAMPLES:-$SAMPLES}
CONNECTIONS=${BENCH_CONNECTIONS:-${SMOKE_CONNECTIONS:-64}}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/planledger-bench.XXXXXX")
RESULTS="$WORK/results.env"; : >"$RESULTS"
BIN="$ROOT/target/$PROFILE"
PG_HOST=127.0.0.1; PG_PORT=5432
export PGPASSWORD=postgres
# No TLS on the loopback, for pgbench and planledger alike: Debian's cluster offers it, and
# libpq would take it, encrypting every answer on the machine's two cores for nothing.
export PGSSLMODE=disable
PG_ADMIN_URL="postgres://postgres:postgres@$PG_HOST:$PG_PORT"
BENCH_DB="planledger_bench$DB_SUFFIX"
PGBENCH_DB="planledger_pgbench$DB_SUFFIX"
JWT_SECRET="bench-secret-$(date +%s)-0123456789abcdef0123456789"
PIDS=()

log() { printf '\n== [%s] %s\n' "$(date +%T)" "$*" >&2; }
fail() { echo "bench/run.sh: $*" >&2; exit 1; }
record() { echo "$1=$2" >>"$RESULTS"; }
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# ---------------------------------------------------------------- machine
apt_updated=""
apt_install() {
    [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
log "tools ($MODE run, work folder $WORK)"
command -v wrk >/dev/null 2>&1 || apt_install wrk
command -v curl >/dev/null 2>&1 || apt_install curl
command -v python3 >/dev/null 2>&1 || apt_install python3
if ! pg_isready -q -h $PG_HOST -p $PG_PORT 2>/dev/null; then
    command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h $PG_HOST -p $PG_PORT && break; sleep 1; done
fi
command -v pgbench >/dev/null 2>&1 || apt_install postgresql-contrib
psql_admin() { psql -qAtX -h $PG_HOST -p $PG_PORT -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
psql_admin -c 'SELECT 1' >/dev/null 2>&1 \
    || su postgres -c "psql -qAt -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
recreate_db() {
    psql_admin -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
    psql_admin -c "CREATE DATABASE $1" >/dev/null
}

log "build ($PROFILE)"
build_started=$(date +%s)
# Without the release profile's line tables: they serve perf and callgrind, not the figures,
# and leaving them out shortens the build of a fresh clone.
CARGO_PROFILE_RELEASE_DEBUG=${CARGO_PROFILE_RELEASE_DEBUG:-false} \
    cargo build "${CARGO_PROFILE[@]}" --locked -q -p planledger-api -p planledger-bench
record build_seconds "$(( $(date +%s) - build_started ))"
PLANLEDGER="$BIN/planledger"; TOOL="$BIN/planledger-bench"; HTTP_LIMIT="$BIN/http_limit"

# ---------------------------------------------------------------- helpers
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$(now)"; }
wait_http() {
    for _ in $(seq 1 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
    fail "$1 did not answer"
}
# wrk_run NAME SCRIPT URL [ARGS…]: a load at $CONNECTIONS connections; records NAME_rps, NAME_p50_ms, …
wrk_run() {
    local name=$1 script=$2 url=$3; shift 3
    local output
    output=$(wrk -t2 -c"$CONNECTIONS" -d"${RUN_DURATION:-$DURATION}s" --timeout 10s -s "$ROOT/bench/wrk/$script" "$url" -- "$@") \
        || fail "wrk $name failed: $output"
    local line; line=$(grep '^WRK ' <<<"$output" | sed 's/^WRK //') || fail "wrk $name printed no figures: $output"
    python3 - "$name" "$line" >>"$RESULTS" <<'PY'
import json, sys
name, figures = sys.argv[1], json.loads(sys.argv[2])
for key in ("rps", "lat_mean_ms", "lat_p50_ms", "lat_p99_ms", "requests", "non_2xx", "socket_errors"):
    print(f"{name}_{key}={figures[key]}")
PY
    echo "   $name: $line" >&2
    # Broken: no request answered, or more than 1 % of them not 2xx (a write that meets another
    # one on the same plan, at the smoke run's few plans, may rarely answer 409).
    local broken; broken=$(python3 -c "import json,sys; f=json.loads(sys.argv[1]); print(int(f['requests'] == 0 or f['non_2xx'] > 0.01 * f['requests']))" "$line")
    [ "$broken" = 0 ] || fail "wrk $name: $line (no request answered, or more than 1 % not 2xx)"
    if ! grep -q '"non_2xx":0,' <<<"$line"; then
        echo "   WARNING: $name had answers other than 2xx; the table says how many" >&2
    fi
}
# pgbench_tps ARGS…: the tps pgbench reports
pgbench_tps() {
    local output
    output=$(pgbench -h $PG_HOST -p $PG_PORT -U postgres -n -M prepared -T "$DURATION" "$@" "$PGBENCH_DB" 2>&1) \
        || fail "pgbench $*: $output"
    sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$output" | tail -n 1
}
json_field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

# ---------------------------------------------------------------- the limits
log "limit: bare actix-web handler"
"$HTTP_LIMIT" "127.0.0.1:$((PORT_BASE + 10))" &
PIDS+=($!); limit_pid=$!
wait_http "http://127.0.0.1:$((PORT_BASE + 10))/"
wrk_run http_limit get.lua "http://127.0.0.1:$((PORT_BASE + 10))" /
kill "$limit_pid"; wait "$limit_pid" 2>/dev/null || true

log "limit: pgbench (scale $PGBENCH_SCALE)"
recreate_db "$PGBENCH_DB"
pgbench -h $PG_HOST -p $PG_PORT -U postgres -i -q -s "$PGBENCH_SCALE" "$PGBENCH_DB" >/dev/null 2>&1 || fail "pgbench -i failed"
printf '\\set aid random(1, 100000 * :scale)\nUPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n' \
    >"$WORK/update.sql"
record pg_select_tps "$(pgbench_tps -S -c "$CONNECTIONS" -j 2)"
record pg_update1_tps "$(pgbench_tps -f "$WORK/update.sql" -c 1 -j 1)"
record pg_update64_tps "$(pgbench_tps -f "$WORK/update.sql" -c "$CONNECTIONS" -j 2)"
grep '^pg_' "$RESULTS" | sed 's/^/   /' >&2

# ---------------------------------------------------------------- planledger
# start_server NAME DATABASE_URL PORT: starts planledger, sets SERVER_PID
start_server() {
    local name=$1 url=$2 port=$3
    DATABASE_URL="$url" PLANLEDGER_BIND="127.0.0.1:$port" PLANLEDGER_JWT_SECRET="$JWT_SECRET" \
        PLANLEDGER_RATE_LIMIT=0 RUST_LOG=warn "$PLANLEDGER" serve >>"$WORK/$name.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_http "http://127.0.0.1:$port/readyz"
}
stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}
peak_rss_mb() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# bench_backend NAME DATABASE_URL PORT EVENTS
bench_backend() {
    local name=$1 url=$2 port=$3 events=$4
    local base="http://127.0.0.1:$port"
    log "$name: dataset ($MUNICIPALITIES municipalities through POST /v1/import/plans)"
    start_server "$name" "$url" "$port"
    local token
    token=$(DATABASE_URL="$url" PLANLEDGER_JWT_SECRET="$JWT_SECRET" RUST_LOG=warn \
        "$PLANLEDGER" token issue --org SE --roles reader,editor,approver,admin --ttl 3h)
    local dataset
    dataset=$("$TOOL" --base "$base" --token "$token" dataset --data "$ROOT/data/region-jamtland-harjedalen-plans.json" \
        --municipalities "$MUNICIPALITIES") || fail "$name dataset failed"
    echo "   $dataset" >&2
    for key in import_seconds import_first_seconds import_p50_seconds import_max_seconds plans_created \
        goals_created activities_created head_seq organizations; do
        record "${name}_dataset_$key" "$(json_field "$dataset" "$key")"
    done
    record "${name}_dataset_rss_mb" "$(peak_rss_mb "$SERVER_PID")"

    log "$name: further changes up to $events events (planledger bench-fill)"
    local fill
    fill=$(DATABASE_URL="$url" RUST_LOG=warn "$PLANLEDGER" bench-fill --events "$events" --batch "$FILL_BATCH") \
        || fail "$name bench-fill failed"
    echo "   $fill" >&2
    record "${name}_fill_seconds" "$(json_field "$fill" seconds)"
    record "${name}_fill_events" "$(json_field "$fill" events_appended)"
    record "${name}_fill_eps" "$(json_field "$fill" events_per_second)"
    local head; head=$(json_field "$fill" head_seq)
    record "${name}_head_seq" "$head"

    log "$name: verify-log over $head events"
    local started; started=$(now)
    local verify
    verify=$(DATABASE_URL="$url" RUST_LOG=warn "$PLANLEDGER" verify-log) || fail "$name verify-log: $verify"
    record "${name}_verify_seconds" "$(since "$started")"
    record "${name}_verify_ok" "$(json_field "$verify" ok)"
    echo "   $verify" >&2
    stop_server

    log "$name: reads at $CONNECTIONS connections, ${DURATION}s each (fresh server process)"
    start_server "$name" "$url" "$port"
    "$TOOL" --base "$base" --token "$token" fixtures --out "$WORK/$name" >/dev/null || fail "$name fixtures failed"
    # The first read of each plan since its last change builds the document later reads are
    # answered from: a first pass reads every plan (its own figure), then the measured run.
    RUN_DURATION=$FIRST_PASS wrk_run "${name}_get_plan_first" get_plan.lua "$base" "$WORK/$name/plans.txt" sweep
    wrk_run "${name}_get_plan" get_plan.lua "$base" "$WORK/$name/plans.txt"
    wrk_run "${name}_list_plans" get.lua "$base" "/v1/plans?limit=50"
    local early=$((head / 100)); [ "$early" -le 10000 ] || early=10000
    [ "$MODE" = smoke ] && early=$((head / 3))
    record "${name}_events_early_after" "$early"
    record "${name}_events_end_after" "$((head - 100))"
    wrk_run "${name}_events_early" get.lua "$base" "/v1/events?after=$early&limit=100" "$token"
    wrk_run "${name}_events_end" get.lua "$base" "/v1/events?after=$((head - 100))&limit=100" "$token"
    record "${name}_read_rss_mb" "$(peak_rss_mb "$SERVER_PID")"

    log "$name: writes at $CONNECTIONS connections, ${DURATION}s each"
    wrk_run "${name}_goal_status" goal_status.lua "$base" "$token" "$WORK/$name/goals.txt"
    wrk_run "${name}_transition" plan_transition.lua "$base" "$token" "$WORK/$name/plans.txt"

    log "$name: commit → long-poll delivery ($SAMPLES samples)"
    local poll
    poll=$("$TOOL" --base "$base" --token "$token" longpoll --goals "$WORK/$name/goals.txt" --samples "$SAMPLES") \
        || fail "$name long-poll probe failed"
    echo "   $poll" >&2
    for key in send_to_delivery_p50_ms send_to_delivery_p99_ms ack_to_delivery_p50_ms ack_to_delivery_p99_ms; do
        record "${name}_longpoll_$key" "$(json_field "$poll" "$key")"
    done
    record "${name}_peak_rss_mb" "$(peak_rss_mb "$SERVER_PID")"
    stop_server

    log "$name: verify-log after the write loads"
    verify=$(DATABASE_URL="$url" RUST_LOG=warn "$PLANLEDGER" verify-log) || fail "$name verify-log after writes: $verify"
    record "${name}_verify_final_ok" "$(json_field "$verify" ok)"
    record "${name}_final_head_seq" "$(json_field "$verify" head_seq)"
    echo "   $verify" >&2
}

record connections "$CONNECTIONS"
recreate_db "$BENCH_DB"
bench_backend postgres "$PG_ADMIN_URL/$BENCH_DB?sslmode=disable" "$PORT_BASE" "$PG_EVENTS"
bench_backend sqlite "sqlite://$WORK/planledger.db" "$((PORT_BASE + 1))" "$SQLITE_EVENTS"
record sqlite_file_mb "$(du -m "$WORK/planledger.db" | cut -f1)"
record run_seconds "$(( $(date +%s) - RUN_STARTED ))"

# ---------------------------------------------------------------- the table
log "results"
TABLE="$WORK/table.md"
python3 "$ROOT/bench/report.py" "$RESULTS" "$MODE" >"$TABLE"
cat "$TABLE"
if [ -n "$OUT" ]; then
    mkdir -p "$(dirname "$OUT")"
    cp "$TABLE" "$OUT"
    [ "$MODE" = full ] && cp "$RESULTS" "$ROOT/bench/results/latest.env"
    echo "written to ${OUT#"$ROOT"/}" >&2
fi
rm -rf "$WORK"
