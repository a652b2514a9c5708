#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine: virtualenv, packages, servers, lint, tests.
#   scripts/test.sh            everything
#   scripts/test.sh -m 'not slow' tests/agent     any pytest arguments
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
scripts/services.sh
echo "== lint (ruff), types (mypy --strict) and architecture (import-linter)"
.venv/bin/ruff check .
scripts/typecheck.sh
scripts/importlint.sh
echo "== tests"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
