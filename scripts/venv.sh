#!/usr/bin/env bash
# Create or refresh .venv with tailsight and the given extras; quick when nothing changed.
# Shows one line per step and pip's progress; the build's own chatter (setuptools warnings,
# compiler output) goes to a log that is printed only when the install fails.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
py="${PYTHON:-python3}"
# The C sources count too: pip install -e compiles them, and only then.
stamp=".venv/.installed-$(cat pyproject.toml tailsight/pipeline/*.c | sha1sum | cut -c1-12)-${extras//,/_}"
[ -f "$stamp" ] && exit 0
log=".venv-install.log"
step() { printf 'tailsight: %s\n' "$*" >&2; }
fail() { step "install failed; its log ($log):"; cat "$log" >&2; exit 1; }
started=$(date +%s)
if [ ! -x .venv/bin/python ]; then
  step "creating .venv with $("$py" --version 2>&1)"
  "$py" -m venv .venv
fi
step "installing tailsight${extras:+ with [$extras]} into .venv (the first time takes a few minutes)"
.venv/bin/python -m pip install -q --upgrade pip >"$log" 2>&1 || fail
spec="."
[ -n "$extras" ] && spec=".[$extras]"
# Progress: a line per package fetched, then the build and the summary. setuptools' own
# warnings (experimental ext-modules, editable install) are expected and not shown.
set +o pipefail
PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore .venv/bin/python -m pip install --no-color -e "$spec" 2>>"$log" \
  | tee -a "$log" \
  | grep --line-buffered -E '^(Collecting| *Building editable.*started|Successfully installed)' \
  | sed -u -e 's/^Collecting /  fetching /' -e 's/^ *Building editable.*/  building tailsight (C ingest encoder)/' \
           -e 's/^Successfully installed \(.*\)/  installed: \1/' -e 's/^\(.\{150\}\).*/\1 …/' >&2
status=${PIPESTATUS[0]}
set -o pipefail
[ "$status" -eq 0 ] || fail
.venv/bin/python -c "import tailsight" 2>>"$log" || fail
rm -f .venv/.installed-* "$log"
touch "$stamp"
step "ready in $(( $(date +%s) - started ))s"
