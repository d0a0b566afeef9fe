#!/usr/bin/env bash
# Contract checks of planledger's HTTP API, run by .ci/run after `cargo test`:
#   1. schemathesis fuzzes every operation of a live demo server against /openapi.json;
#   2. Spectral lints openapi/openapi.json with its OpenAPI ruleset;
#   3. openapi-typescript generates types from the document, and tsc checks the example
#      client in openapi/client/ against them;
#   4. headless Chromium renders the docs page (/docs/) of the live server.
# It installs what it needs (Chromium from Debian, schemathesis into target/ci/venv, the
# npm tools pinned by openapi/client/package-lock.json), runs every check even when one
# fails, appends one line per check to $PLANLEDGER_CI_SUMMARY (default
# target/ci/summary.txt) and exits non-zero when any check failed.
#
# The live checks run in a network namespace of their own with only loopback: the fuzzer
# registers webhooks with made-up URLs, and the delivery worker must not reach out to them;
# it also proves that the docs page loads with no network (the Swagger UI is vendored).
set -euo pipefail
cd "$(dirname "$0")/.."

ci_dir=target/ci
summary=${PLANLEDGER_CI_SUMMARY:-$ci_dir/summary.txt}
# The schemathesis step must stay within 5 minutes on 2 cores: 60 examples an operation take
# about 2 minutes there (two workers on CPython 3.13; one worker on 3.11 about the same).
schemathesis_max_examples=${PLANLEDGER_CONTRACT_MAX_EXAMPLES:-60}
mkdir -p "$ci_dir" "$(dirname "$summary")"

log() { printf '\n== %s\n' "$*"; }
note() { printf '%s\n' "$*" >> "$summary"; printf '%s\n' "$*"; }

# --- Live checks: run inside the network namespace, by the outer run below. -------------
if [ "${1:-}" = "--live" ]; then
    failed=0
    ip link set lo up
    live_dir=$ci_dir/live
    rm -rf "$live_dir"
    mkdir -p "$live_dir"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    base=http://127.0.0.1:$port
    log "planledger serve --demo on $base"
    PLANLEDGER_RATE_LIMIT=0 DATABASE_URL="sqlite://$live_dir/planledger.db" RUST_LOG=warn \
        target/debug/planledger serve --demo --bind "127.0.0.1:$port" > "$live_dir/server.log" 2>&1 &
    server=$!
    trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
    token=""
    for _ in $(seq 1 120); do
        token=$(sed -n 's/^export TOKEN=//p' "$live_dir/server.log")
        [ -n "$token" ] && curl -fsS -o /dev/null "$base/readyz" 2>/dev/null && break
        kill -0 "$server" 2>/dev/null || break
        sleep 0.5
    done
    if [ -z "$token" ] || ! curl -fsS -o /dev/null "$base/readyz"; then
        cat "$live_dir/server.log"
        note "schemathesis: FAILED, the demo server did not start"
        note "docs page: FAILED, the demo server did not start"
        exit 1
    fi

    log "schemathesis (every operation, --checks all, at most $schemathesis_max_examples examples each, ${PLANLEDGER_CONTRACT_WORKERS:-1} workers)"
    report=$live_dir/schemathesis.ndjson
    started=$(date +%s)
    set +e
    # .ci/schemathesis.toml holds the few narrow exceptions, each with its reason.
    # `timeout` is the hard bound of 5 minutes; the number of examples is what keeps it well under.
    HYPOTHESIS_STORAGE_DIRECTORY=$ci_dir/hypothesis timeout 300 "$ci_dir/venv/bin/schemathesis" --no-color --config-file .ci/schemathesis.toml run \
        "$base/openapi.json" --url "$base" \
        -H "Authorization: Bearer $token" \
        --checks all --workers "${PLANLEDGER_CONTRACT_WORKERS:-1}" --max-examples "$schemathesis_max_examples" \
        --seed 20261122 --generation-database none \
        --report ndjson --report-ndjson-path "$report" \
        > "$live_dir/schemathesis.txt" 2>&1
    status=$?
    set -e
    elapsed=$(( $(date +%s) - started ))
    cat "$live_dir/schemathesis.txt"
    figures=$(python3 .ci/contract_figures.py schemathesis "$report" "$live_dir/schemathesis.txt") || figures=""
    if [ "$status" -eq 0 ] && [ -n "$figures" ] && [ "${figures#*FAILED}" = "$figures" ]; then
        note "schemathesis: $figures in ${elapsed} s"
    else
        note "schemathesis: FAILED (exit $status): ${figures:-no figures} in ${elapsed} s; see $live_dir/schemathesis.txt"
        failed=1
    fi

    log "docs page in headless Chromium"
    shot=$ci_dir/docs.png
    rm -f "$shot"
    chromium_flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
        --disable-dev-shm-usage --no-first-run --hide-scrollbars --window-size=1280,2400
        --virtual-time-budget=15000)
    set +e
    chromium "${chromium_flags[@]}" --dump-dom "$base/docs/" > "$live_dir/docs.html" 2> "$live_dir/chromium.log"
    dom_status=$?
    chromium "${chromium_flags[@]}" --screenshot="$PWD/$shot" "$base/docs/" >> "$live_dir/chromium.log" 2>&1
    shot_status=$?
    set -e
    documented=$(python3 .ci/contract_figures.py operations openapi/openapi.json)
    rendered=$(python3 .ci/contract_figures.py docs "$live_dir/docs.html" openapi/openapi.json) || rendered=""
    if [ "$dom_status" -eq 0 ] && [ "$shot_status" -eq 0 ] && [ -s "$shot" ] && [ "$rendered" = "$documented" ]; then
        note "docs page: $rendered of $documented operations rendered in Chromium (no network), screenshot $shot"
    else
        tail -n 20 "$live_dir/chromium.log"
        note "docs page: FAILED: ${rendered:-0} of $documented operations rendered (chromium exit $dom_status/$shot_status), screenshot $shot"
        failed=1
    fi
    exit "$failed"
fi

# --- Set-up: what the checks need, from the package registries. -------------------------
log "tools for the contract checks"
apt_updated=""
apt_install() {
    [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
[ -x /usr/bin/chromium ] || apt_install chromium
command -v curl >/dev/null 2>&1 || apt_install curl
command -v unshare >/dev/null 2>&1 || apt_install util-linux
command -v ip >/dev/null 2>&1 || apt_install iproute2
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
if ! command -v npm >/dev/null 2>&1; then apt_install nodejs npm; fi

# CPython before 3.13 can fail at random with "SystemError: AST constructor recursion depth
# mismatch" when two threads parse source at once, as hypothesis does under `--workers 2`. Take
# a 3.13 or later where the machine has one (pyenv's too), else run schemathesis on one worker.
python=python3
workers=1
for candidate in python3.13 python3.14 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[3-9]*/bin/python3; do
    if "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
        python=$candidate
        workers=2
        break
    fi
done
venv=$ci_dir/venv
wanted="$("$python" --version) $(cat .ci/contract-requirements.txt)"
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$wanted" ]; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r .ci/contract-requirements.txt
    printf '%s' "$wanted" > "$venv/.installed"
fi
"$venv/bin/python" --version
"$venv/bin/schemathesis" --version
export PLANLEDGER_CONTRACT_WORKERS=$workers

client=openapi/client
if ! cmp -s "$client/package-lock.json" "$client/node_modules/.installed-lock"; then
    # --ignore-scripts: none of these tools needs an install script (one only reports usage).
    (cd "$client" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    cp "$client/package-lock.json" "$client/node_modules/.installed-lock"
fi

cargo build -p planledger-api --bin planledger --locked
failed=0

# --- Static checks of the committed document. -----------------------------------------
log "Spectral (spectral:oas) on openapi/openapi.json"
set +e
"$client/node_modules/.bin/spectral" lint --ruleset openapi/.spectral.yaml --format json \
    --output "$ci_dir/spectral.json" --fail-severity error openapi/openapi.json
"$client/node_modules/.bin/spectral" lint --ruleset openapi/.spectral.yaml --format text openapi/openapi.json
set -e
spectral=$(python3 .ci/contract_figures.py spectral "$ci_dir/spectral.json") || spectral=""
case "$spectral" in
    "0 errors"*) note "spectral: $spectral" ;;
    *) note "spectral: FAILED: ${spectral:-no report}"; failed=1 ;;
esac

log "openapi-typescript and tsc --noEmit on openapi/client/example.ts"
mkdir -p "$client/generated"
set +e
"$client/node_modules/.bin/openapi-typescript" openapi/openapi.json -o "$client/generated/planledger-api.ts"
generate_status=$?
(cd "$client" && node_modules/.bin/tsc --noEmit -p tsconfig.json --pretty false) > "$ci_dir/tsc.txt" 2>&1
tsc_status=$?
set -e
cat "$ci_dir/tsc.txt"
tsc_errors=$(grep -c 'error TS' "$ci_dir/tsc.txt" || true)
typed=$(python3 .ci/contract_figures.py typed openapi/openapi.json "$client/generated/planledger-api.ts") || typed=""
documented=$(python3 .ci/contract_figures.py operations openapi/openapi.json)
if [ "$generate_status" -eq 0 ] && [ "$tsc_status" -eq 0 ] && [ "$tsc_errors" -eq 0 ] && [ "$typed" = "$documented" ]; then
    note "typescript client: $typed of $documented operations typed, tsc --noEmit 0 errors"
else
    note "typescript client: FAILED: ${typed:-0} of $documented operations typed, tsc --noEmit $tsc_errors errors (exit $tsc_status)"
    failed=1
fi

# --- Live checks, in a network namespace with only loopback. ----------------------------
if unshare --net true 2>/dev/null; then
    unshare --net -- bash .ci/contract.sh --live || failed=1
else
    note "schemathesis: FAILED: cannot make a network namespace (unshare --net) to run the server without network"
    note "docs page: FAILED: cannot make a network namespace (unshare --net)"
    failed=1
fi

log "contract checks: $([ "$failed" -eq 0 ] && echo passed || echo FAILED)"
exit "$failed"
