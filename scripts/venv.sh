#!/usr/bin/env bash
# Create or refresh .venv with tailsight and the given extras; quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
py="${PYTHON:-python3}"
# The C sources count too: pip install -e compiles them, and only then.
stamp=".venv/.installed-$(cat pyproject.toml tailsight/pipeline/*.c | sha1sum | cut -c1-12)-${extras//,/_}"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  .venv/bin/python -m pip install -q -e "$spec" 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c "import tailsight" 
  rm -f .venv/.installed-*
  touch "$stamp"
fi
