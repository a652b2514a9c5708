#!/usr/bin/env bash
# Build the sdist and the wheel as a release would (python -m build, isolated) and check what
# PyPI would see of them (twine check: metadata, README rendering, licence). Run by
# scripts/test.sh; the files go to build/package-check/ and are rebuilt every time.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/package-check
rm -rf "$out"
mkdir -p build
.venv/bin/python -m build --sdist --wheel --outdir "$out" . >"$out.log" 2>&1 || {
  cat "$out.log" >&2
  exit 1
}
.venv/bin/python -m twine check --strict "$out"/*
# The wheel must carry the licence and the SPDX expression, not only the sdist.
wheel=$(ls "$out"/jishi-*.whl)
.venv/bin/python - "$wheel" <<'PY'
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as wheel:
    names = wheel.namelist()
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = wheel.read(metadata).decode()
assert "License-Expression: Apache-2.0" in text, "no SPDX licence in the wheel's METADATA"
assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "no LICENSE in the wheel"
# Without the compiled catalog the messages silently stay English (issue 19).
assert "jishi/locale/zh_CN/LC_MESSAGES/jishi.mo" in names, "no Chinese message catalog"
print(f"{sys.argv[1]}: licence Apache-2.0, LICENSE file and the zh_CN catalog present")
PY
