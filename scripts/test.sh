#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine: virtualenv, packages, servers, lint, tests.
#   scripts/test.sh            everything
#   scripts/test.sh -m 'not slow' tests/agent     any pytest arguments
# The tests run in JISHI_TEST_WORKERS parallel pytest-xdist workers (default 4: most tests wait
# on servers and child processes, so more workers than cores pay off; -n 0 runs them in one
# process); then the tests marked `alone` (they measure CPU time) run on their own.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
scripts/services.sh
echo "== lint (ruff), types (mypy --strict) and architecture (import-linter)"
.venv/bin/ruff check .
scripts/typecheck.sh
scripts/importlint.sh
echo "== translations: every message has its Chinese, the .mo matches the .po (issue 19)"
.venv/bin/python scripts/i18n.py check
echo "== package: sdist and wheel build, twine check"
scripts/package_check.sh
echo "== tests"
set +e
# loadgroup: a module that marks its tests xdist_group (one set of processes for the module,
# e.g. the console's browser tests) runs on one worker; the others spread as usual.
.venv/bin/python -m pytest -n "${JISHI_TEST_WORKERS:-4}" --dist loadgroup --alone skip "$@"
rc=$?
echo "== tests that need the CPUs to themselves"
.venv/bin/python -m pytest --alone only "$@"
rc_alone=$?
set -e
# 5: pytest selected no test. Fine for one of the two runs, an error for both.
if [ "$rc" = 5 ] && [ "$rc_alone" = 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
for code in "$rc" "$rc_alone"; do
  if [ "$code" != 0 ] && [ "$code" != 5 ]; then
    exit "$code"
  fi
done
exit 0
