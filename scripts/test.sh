#!/usr/bin/env bash
# Installs everything the test suite needs into ./.venv, then runs lint, types and all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
# tests/drift/test_evidently.py compares every drift statistic with Evidently's, run in an
# interpreter of its own (modeltower does not depend on Evidently; 0.7.23 needs pandas < 3).
[ -x .venv-evidently/bin/python ] || "$PY" -m venv .venv-evidently
.venv-evidently/bin/python -m pip install -q "evidently==0.7.23" "pandas<3"
# The dashboard's browser tests drive Debian's chromium (playwright's own downloads are not used).
if ! command -v chromium >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium
fi
# The PostgreSQL store's tests start a throw-away cluster with Debian's server binaries, unless
# MODELTOWER_TEST_DATABASE_URL names a server.
if [ -z "${MODELTOWER_TEST_DATABASE_URL:-}" ] && ! command -v initdb >/dev/null \
  && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi
echo "== ruff"; .venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
echo "== mypy"; .venv/bin/mypy
echo "== pytest"
# DuckDB's bindings may print reference-leak notes at interpreter exit, after pytest's summary;
# repeat the summary so that it stays the closing line.
log="$(mktemp)"
set +e
.venv/bin/python -m pytest "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
echo
grep -E "^=+ .*(passed|failed|error).* in [0-9.]+s" "$log" | tail -1
rm -f "$log"
exit "$status"
