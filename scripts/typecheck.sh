#!/usr/bin/env bash
# mypy --strict over the package. The root folders are installed as jishi.* sub-packages
# (pyproject.toml package-dir), which mypy cannot see through the editable-install finder, so
# we give it a tree of symlinks with the installed layout (--tree-only: build it and stop,
# for scripts/importlint.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
tree=build/typecheck
rm -rf "$tree"
mkdir -p "$tree/jishi"
for f in jishi/*; do ln -s "../../../$f" "$tree/jishi/$(basename "$f")"; done
# jishi/agent ... are already symlinks to the root folders (see scripts/importlint.sh).
for part in agent collector drivers firmware_bridge; do
  [ -e "$tree/jishi/$part" ] || ln -s "../../../$part" "$tree/jishi/$part"
done
if [ "${1:-}" = "--tree-only" ]; then exit 0; fi
cd "$tree"
../../.venv/bin/mypy --config-file ../../pyproject.toml -p jishi
