#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine, then runs
# lint (ruff), types (mypy), the import contracts between layers (import-linter) and the whole
# pytest suite against real Prometheus, VictoriaMetrics and PostgreSQL processes.
# Extra arguments go to pytest, e.g. `bash tests/run.sh -k catalog`.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v victoria-metrics >/dev/null || missing+=(victoria-metrics)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "Installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e '.[dev]'

echo "== ruff"; .venv/bin/ruff check bot tests benchmarks
echo "== mypy"; .venv/bin/mypy bot
echo "== import contracts"; .venv/bin/lint-imports --no-cache
echo "== pytest"; .venv/bin/pytest "$@"
