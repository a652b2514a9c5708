#!/usr/bin/env bash
# Run the demo on a fresh machine: virtualenv, packages, then `jishi demo` with any arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh demo
exec .venv/bin/jishi demo "$@"
