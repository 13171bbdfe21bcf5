#!/usr/bin/env bash
# Live operations under load: `triage serve` with its store, on SQLite
# (--data) and on PostgreSQL (--database; one replica and three), driven by
# crates/triage-http/examples/live_load.rs on loopback.
#
#   bash benches/live/run.sh      # writes benches/live/RESULTS.md
#
# Measures, with the example rules and directory: opening a case with its
# first event (append + replay + outbox write in one request), and
# reserving capacity for it (decide on live load + conditional update).
# PostgreSQL is started from the system's packages by .ci/postgres.sh (as
# CI does). Settings: N (requests per measurement, default 5000),
# CONCURRENCY (default 16). Client and servers share this machine's cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-5000}
CONCURRENCY=${CONCURRENCY:-16}
WORK=$(mktemp -d)
# Servers are started inside $(…), so their pids go to a file.
stop_all() { [ -f "$WORK/pids" ] && xargs -r kill < "$WORK/pids" 2>/dev/null; rm -f "$WORK/pids"; sleep 0.5; }
cleanup_live() { stop_all || true; rm -rf "$WORK"; }
trap cleanup_live EXIT

cargo build --release -q -p triage-cli
cargo build --release -q -p triage-http --example live_load --example scheduler_load
TRIAGE=target/release/triage
LOAD=target/release/examples/live_load
SCHED=target/release/examples/scheduler_load
CASES=${CASES:-100000}
RULES=rules/global-support

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
serve() { # STORE-ARGS… -> prints the URL
  local port; port=$(free_port)
  "$TRIAGE" serve "$RULES" --listen "127.0.0.1:$port" "$@" >/dev/null 2>"$WORK/serve-$port.log" &
  echo $! >> "$WORK/pids"
  for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && { echo "http://127.0.0.1:$port"; return; }
    sleep 0.1
  done
  echo "not ready" >&2; cat "$WORK/serve-$port.log" >&2; exit 1
}
row() { # LABEL JSON
  python3 - "$1" "$2" <<'PY'
import json, sys
r = json.loads(sys.argv[2])
print(f"| {sys.argv[1]} | {r['per_second']:.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | {r['failed']} |")
PY
}

ROWS=()
SROWS=()
srow() { # JSON
  python3 - "$1" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"| {r['backend']} | {r['cases']:,} | {r['seeding_s']:.0f} s | {r['backlog_cases']:,} in {r['backlog_pass_s']:.1f} s ({r['backlog_cases_per_s']:.0f}/s) "
      f"| {r['backlog_delivered_s']:.1f} s "
      f"| {r['on_time_actions']:,} | {r['late_p50_ms']} ms | {r['late_p99_ms']} ms | {r['late_max_ms']} ms |")
PY
}
echo "== SQLite" >&2
URL=$(serve --data "$WORK/sqlite")
ROWS+=("$(row "SQLite: open a case (append + replay + outbox)" "$("$LOAD" "$URL" open "$N" "$CONCURRENCY")")")
ROWS+=("$(row "SQLite: reserve capacity (assign)" "$("$LOAD" "$URL" assign "$N" "$CONCURRENCY")")")
stop_all
echo "== scheduler, SQLite, $CASES cases" >&2
SROWS+=("$(srow "$("$SCHED" "sqlite:$WORK/sched" "$CASES")")")

echo "== PostgreSQL" >&2
# shellcheck source=../../.ci/postgres.sh
source .ci/postgres.sh
trap 'cleanup_live; stop_postgres' EXIT
PGURL_BASE=${TRIAGE_TEST_POSTGRES%/*}
"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres bench_one
URL=$(serve --database "$PGURL_BASE/bench_one")
ROWS+=("$(row "PostgreSQL, 1 replica: open a case" "$("$LOAD" "$URL" open "$N" "$CONCURRENCY")")")
ROWS+=("$(row "PostgreSQL, 1 replica: reserve capacity" "$("$LOAD" "$URL" assign "$N" "$CONCURRENCY")")")
stop_all
"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres bench_three
URLS=$(for _ in 1 2 3; do serve --database "$PGURL_BASE/bench_three"; done | paste -sd, -)
ROWS+=("$(row "PostgreSQL, 3 replicas: open a case" "$("$LOAD" "$URLS" open "$N" "$CONCURRENCY")")")
ROWS+=("$(row "PostgreSQL, 3 replicas: reserve capacity" "$("$LOAD" "$URLS" assign "$N" "$CONCURRENCY")")")
stop_all
echo "== scheduler, PostgreSQL, $CASES cases" >&2
"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres bench_sched
SROWS+=("$(srow "$("$SCHED" "$PGURL_BASE/bench_sched" "$CASES")")")

{
  echo "# Live operations under load"
  echo
  echo "Measured by \`bash benches/live/run.sh\` on $(date -u +%Y-%m-%d): $(nproc) cores,"
  echo "$N requests per row, $CONCURRENCY at once, client and servers on the same machine, release build,"
  echo "example rules and directory (42 agents: once their capacity is taken, a reservation answers \`queued\`)."
  echo
  echo "| what | requests/s | p50 | p99 | failed |"
  echo "|---|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "The scheduler and delivery (\`scheduler_load\`): open cases seeded into the store, a tenth overdue"
  echo "(the backlog a service finds after being down), 2 % falling due over 30 s (SLA clocks of seconds),"
  echo "the rest tomorrow; the service's scheduler and delivery on the system clock, to a webhook sink on"
  echo "loopback. The backlog pass replays the overdue cases; their 30,000 actions are then delivered."
  echo "Lateness (steady state, after the backlog): delivered instant minus due instant for the actions of"
  echo "the 2 % of cases, which fall due over 30 s."
  echo
  echo "| store | open cases | seeding | backlog pass | backlog delivered | actions due | late p50 | late p99 | late max |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${SROWS[@]}"
} > benches/live/RESULTS.md
cat benches/live/RESULTS.md
