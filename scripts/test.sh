#!/usr/bin/env bash
# One command to test Fenicia: install (Python packages and Debian's chromium for the browser
# tests), check lint and migrations, run the suite. SQLite by default; set DATABASE_URL to
# run it on PostgreSQL, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/fenicia
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x /usr/bin/chromium ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
bash scripts/setup.sh
.venv/bin/ruff check .
# Migrations are database-independent: check them against the default SQLite file.
env -u DATABASE_URL .venv/bin/python manage.py makemigrations --check --dry-run >/dev/null \
  || { echo "Model changes without migrations: run manage.py makemigrations" >&2; exit 1; }
echo "== pytest on ${DATABASE_URL:-SQLite} =="
exec .venv/bin/pytest "$@"
