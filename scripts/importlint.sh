#!/usr/bin/env bash
# import-linter contracts (pyproject.toml [tool.importlinter]) over the installed layout.
# The root folders are installed as jishi.* sub-packages, which grimp cannot see through the
# editable-install finder; scripts/typecheck.sh's tree of symlinks gives it that layout.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/typecheck.sh --tree-only
cd build/typecheck
PYTHONPATH=. ../../.venv/bin/lint-imports --no-cache ../../pyproject.toml "$@"
