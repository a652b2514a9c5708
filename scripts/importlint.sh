#!/usr/bin/env bash
# import-linter contracts (pyproject.toml [tool.importlinter]). The root folders are installed as
# jishi.* sub-packages; jishi/agent, jishi/collector, jishi/drivers and jishi/firmware_bridge are
# symlinks to them, so a plain `lint-imports` in the repository sees the installed layout.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/lint-imports --no-cache "$@"
