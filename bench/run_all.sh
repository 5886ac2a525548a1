#!/usr/bin/env bash
# Run every Fenicia benchmark on SQLite and PostgreSQL (about 5 minutes on 2 cores).
#   bench/run_all.sh              # all of them
#   PYTHON=/path/to/python bench/run_all.sh
#   BENCH_WAIT_QUIET=0 bench/run_all.sh   # don't wait for a quiet machine
# PostgreSQL must accept `postgres@127.0.0.1:5432` (override with BENCH_PG_ADMIN_URL and
# BENCH_PG_URL_TEMPLATE, see bench/_common.py). Each script creates and drops its own
# temporary database and stops its own server. Results also go to bench/results/*.json.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
# Shared machine? Each benchmark first waits (at most this many seconds) for a quiet CPU.
WAIT="${BENCH_WAIT_QUIET:-90}"
status=0
run() {
    echo
    echo "=== $* ==="
    "$PY" "$@" --wait-quiet "$WAIT" || status=1
}
for db in sqlite postgres; do
    run bench/webhook_intake.py --db "$db"
    run bench/inbox_to_orders.py --db "$db"
    run bench/inventory_import.py --db "$db"
done
# What-if: the same intake on SQLite with a connection per request (CONN_MAX_AGE=0, Fenicia's
# setting before 9cbf03f), to show what persistent connections are worth.
run bench/webhook_intake.py --db sqlite --sqlite-conn-max-age 0
exit $status
