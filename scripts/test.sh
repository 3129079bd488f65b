#!/usr/bin/env bash
# Set up everything the tests need (system packages included), then lint, type-check and test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export QT_QPA_PLATFORM=offscreen
echo "== ruff"; .venv/bin/ruff check desktop tests bench installer
echo "== ruff format"; .venv/bin/ruff format --check desktop tests bench installer
echo "== mypy"; .venv/bin/mypy desktop
echo "== import-linter (layers)"; .venv/bin/lint-imports
echo "== pytest"; .venv/bin/python -m pytest --durations=15 "$@"
