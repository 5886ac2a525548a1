#!/usr/bin/env bash
# One command to try Fenicia: install, then run web server + worker + sandbox marketplace on SQLite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/python manage.py demo "$@"
