#!/usr/bin/env python3
"""Turns bench/run.sh's figures (NAME=VALUE lines) into the results table (Markdown)."""

import datetime
import platform
import subprocess
import sys

figures = {}
for line in open(sys.argv[1], encoding="utf-8"):
    if "=" in line:
        key, value = line.rstrip("\n").split("=", 1)
        figures[key] = value
mode = sys.argv[2] if len(sys.argv) > 2 else "full"
conn = figures.get("connections", "64")


def num(key):
    try:
        return float(figures[key])
    except (KeyError, ValueError):
        return None


def fmt(value, unit=""):
    if value is None:
        return "–"
    if abs(value) >= 100:
        text = f"{value:,.0f}".replace(",", " ")
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return f"{text} {unit}".strip()


rows = []


def row(figure, backend, value, unit, limit=None, limit_name="", ratio=None, target=None, met=None):
    rows.append((figure, backend, fmt(value, unit), f"{fmt(limit, unit)} ({limit_name})" if limit else "–",
                 f"{ratio * 100:.1f} %" if ratio is not None else "–", target or "–",
                 "–" if met is None else ("**yes**" if met else "**NO**")))


def ratio(a, b):
    return a / b if a is not None and b else None


http = num("http_limit_rps")
select = num("pg_select_tps")
update1 = num("pg_update1_tps")
update64 = num("pg_update64_tps")
row(f"HTTP limit: bare actix-web handler, fixed JSON, {conn} conn.", "–", http, "req/s")
row(f"pgbench select-only, {conn} clients", "postgres", select, "tps")
row("pgbench single-row update, 1 client (serial commits)", "postgres", update1, "tps")
row(f"pgbench single-row update, {conn} clients", "postgres", update64, "tps")

for backend in ("postgres", "sqlite"):
    b = backend
    main = backend == "postgres"
    cold = num(f"{b}_get_plan_first_rps")
    row(f"GET /v1/plans/{{id}}, first pass after the start (documents being built), {conn} conn.", b, cold,
        "req/s", select, "pgbench select", ratio(cold, select))
    get = num(f"{b}_get_plan_rps")
    r = ratio(get, select)
    row(f"GET /v1/plans/{{id}} (goals, activities), {conn} conn.", b, get, "req/s", select, "pgbench select",
        r, "≥ 40 %" if main else None, (r >= 0.40) if main and r is not None else None)
    lst = num(f"{b}_list_plans_rps")
    row(f"GET /v1/plans (page of 50), {conn} conn.", b, lst, "req/s", select, "pgbench select", ratio(lst, select))
    early, end = num(f"{b}_events_early_lat_p50_ms"), num(f"{b}_events_end_lat_p50_ms")
    row(f"GET /v1/events?after={figures.get(b + '_events_early_after', '?')}&limit=100: p50 latency, {conn} conn.", b,
        early, "ms")
    row(f"GET /v1/events?after={figures.get(b + '_events_end_after', '?')}&limit=100: p50 latency, {conn} conn.", b, end,
        "ms")
    rr = ratio(end, early)
    rows.append(("event page at the log's end ÷ near its start (p50 latency)", b,
                 f"{rr:.2f} ×" if rr is not None else "–", "–", "–", "≤ 1.5 ×",
                 "–" if rr is None else ("**yes**" if rr <= 1.5 else "**NO**")))
    row("GET /v1/events near the start: throughput", b, num(f"{b}_events_early_rps"), "req/s")
    row("GET /v1/events at the end: throughput", b, num(f"{b}_events_end_rps"), "req/s")
    goal = num(f"{b}_goal_status_rps")
    r = ratio(goal, update1)
    row(f"PATCH /v1/goals/{{id}} status change + event, {conn} conn.", b, goal, "req/s", update1, "pgbench update, 1 client",
        r, "≥ 60 %" if main else None, (r >= 0.60) if main and r is not None else None)
    row(f"  the same against pgbench update, {conn} clients", b, goal, "req/s", update64, f"pgbench update, {conn} clients",
        ratio(goal, update64))
    tr = num(f"{b}_transition_rps")
    row(f"POST /v1/plans/{{id}}/transitions + event, {conn} conn.", b, tr, "req/s", update1, "pgbench update, 1 client",
        ratio(tr, update1))
    p99 = num(f"{b}_longpoll_send_to_delivery_p99_ms")
    row("commit → long-poll delivery p50 (from sending the write)", b,
        num(f"{b}_longpoll_send_to_delivery_p50_ms"), "ms")
    rows.append(("commit → long-poll delivery p99 (from sending the write)", b, fmt(p99, "ms"), "–", "–", "≤ 20 ms",
                 "–" if p99 is None else ("**yes**" if p99 <= 20 else "**NO**")))
    row("  delivery after the write's answer arrived, p50 / p99", b,
        num(f"{b}_longpoll_ack_to_delivery_p50_ms"), "ms")
    rows[-1] = rows[-1][:2] + (f"{fmt(num(f'{b}_longpoll_ack_to_delivery_p50_ms'))} / "
                               f"{fmt(num(f'{b}_longpoll_ack_to_delivery_p99_ms'), 'ms')}",) + rows[-1][3:]
    first = num(f"{b}_dataset_import_first_seconds")
    rows.append(("import of the demo file (14 plans, 400 events): first / median", b,
                 f"{fmt(first)} / {fmt(num(f'{b}_dataset_import_p50_seconds'), 's')}", "–", "–",
                 "< 0.5 s" if not main else "–",
                 ("**yes**" if first < 0.5 else "**NO**") if (not main and first is not None) else "–"))
    row(f"import of all {figures.get(b + '_dataset_organizations', '?')} organizations' plans "
        f"({figures.get(b + '_dataset_plans_created', '?')} plans)", b, num(f"{b}_dataset_import_seconds"), "s")
    row(f"further changes to {figures.get(b + '_head_seq', '?')} events (bench-fill, "
        f"{fmt(num(b + '_fill_eps'))} events/s)", b, num(f"{b}_fill_seconds"), "s")
    row(f"planledger verify-log over {figures.get(b + '_head_seq', '?')} events "
        f"(ok: {figures.get(b + '_verify_ok', '?')}; after the write loads: "
        f"{figures.get(b + '_verify_final_ok', '?')} at {figures.get(b + '_final_head_seq', '?')})",
        b, num(f"{b}_verify_seconds"), "s")
    rss = num(f"{b}_read_rss_mb")
    rows.append(("server peak RSS (VmHWM) after the read loads", b, fmt(rss, "MB"), "–", "–", "< 60 MB",
                 "–" if rss is None else ("**yes**" if rss < 60 else "**NO**")))
    row("server peak RSS after the writes and long-polls too", b, num(f"{b}_peak_rss_mb"), "MB")
    row("server peak RSS during the dataset import", b, num(f"{b}_dataset_rss_mb"), "MB")

try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
except OSError:
    commit = "?"
when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print(f"# planledger benchmark ({mode} run)\n")
print(f"{when}, commit `{commit}`, {platform.machine()}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores, "
      f"wall time {figures.get('run_seconds', '?')} s (build {figures.get('build_seconds', '?')} s). "
      f"Reproduce: `bench/run.sh{' --smoke' if mode == 'smoke' else ''}`. "
      "Server, load generator and database share the machine's cores; the limits were measured in the same run.\n")
print("| figure | backend | measured | limit | ratio | target | met |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
why = {
    "GET /v1/plans/": "a plan read is now one statement (the plan, its last event and its kept JSON, passed "
                      "through) where it was eight round trips and a fresh serialization; what is left is the price "
                      "of a request that waits for the database on a blocking thread, on two cores shared with wrk "
                      "and PostgreSQL: perf puts most of the server's time in the kernel, switching threads and "
                      "moving each 20–40 KB answer through loopback TCP twice, where pgbench's transaction is one "
                      "round trip of a few bytes (bench/README.md, 'Reads').",
    "PATCH /v1/goals/": "writes under different plans now overlap up to their append, and the log head is held for "
                        "three round trips: its lock, the event insert, and the head update with NOTIFY and COMMIT "
                        "in one batch, whose WAL flush alone is pgbench's serial transaction; on two shared cores "
                        "each of those round trips waits for a core too. A single ordered log whose append holds "
                        "the head until commit cannot beat the serial rate; the design that would is in "
                        "bench/README.md, 'Writes'.",
    "event page": "see bench/README.md, 'Event pages'.",
    "long-poll": "see bench/README.md, 'Long-poll delivery'.",
    "RSS": "the mapped binary (about 13 MB of it touched) and the heap at start, then what the requests in "
           "flight hold at once and what the allocator keeps of it (bench/README.md, 'Peak RSS').",
    "import": "see the import rows above.",
}
unmet = [r for r in rows if r[-1] == "**NO**"]
notes = []
for r in unmet:
    reason = next((text for key, text in why.items() if key in r[0]), "")
    measured = r[2] if r[4] == "–" else f"{r[2]}, {r[4]} of {r[3]}"
    notes.append(f"- **{r[0]}** ({r[1]}): {measured}; target {r[5]}. {reason[:1].upper() + reason[1:]}")

bad = [(key[:-len("_non_2xx")], int(float(value))) for key, value in figures.items()
       if key.endswith("_non_2xx") and float(value) > 0]
print()
if notes:
    print("Targets not met, and why:\n")
    print("\n".join(notes))
    print()
if bad:
    print("Answers other than 2xx during the loads (counted in the request rates above): "
          + ", ".join(f"{name}: {count}" for name, count in bad) + ".\n")
else:
    print("Every request of every load was answered 2xx.\n")
print("How each figure was made: bench/README.md. Raw figures: bench/results/latest.env.")
