#!/usr/bin/env bash
# Creates .venv with Python 3.10 and installs the locked dependencies and this project into it.
# Idempotent: does nothing when .venv already matches the lock files. Usage: scripts/bootstrap.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1
venv=.venv

is_py310() { "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' >/dev/null 2>&1; }

find_python() {
  if [ -n "${PYTHON:-}" ]; then
    is_py310 "$PYTHON" && { echo "$PYTHON"; return; }
    echo "error: \$PYTHON=$PYTHON is not a working Python 3.10" >&2; exit 2
  fi
  for candidate in python3.10 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 && is_py310 "$(command -v "$candidate")"; then
      command -v "$candidate"; return
    fi
  done
  # pyenv shims fail unless a 3.10 is selected, so ask pyenv where its 3.10 lives.
  if command -v pyenv >/dev/null 2>&1; then
    local version
    version=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.[0-9]+)?$' | sort -V | tail -n 1 || true)
    if [ -n "$version" ] && is_py310 "$(pyenv prefix "$version")/bin/python"; then
      echo "$(pyenv prefix "$version")/bin/python"; return
    fi
  fi
  if command -v uv >/dev/null 2>&1; then
    local found
    found=$(uv python find 3.10 2>/dev/null || true)
    [ -n "$found" ] && is_py310 "$found" && { echo "$found"; return; }
  fi
  echo "error: Python 3.10 not found. TFX 1.16 supports Python 3.9-3.10 only." >&2
  echo "Install it (e.g. 'pyenv install 3.10' or your OS package) or set PYTHON=/path/to/python3.10." >&2
  exit 2
}

locks=(requirements.lock)
[ "$dev" = 1 ] && locks+=(requirements-dev.lock)
want=$(cat "${locks[@]}" pyproject.toml | sha256sum | cut -c1-16)
stamp="$venv/.installed-$want"
if [ -f "$stamp" ]; then
  exit 0
fi

if [ ! -x "$venv/bin/python" ] || ! is_py310 "$venv/bin/python"; then
  py=$(find_python)
  echo "setup: creating $venv with $py" >&2
  rm -rf "$venv"
  "$py" -m venv "$venv"
fi
echo "setup: installing locked dependencies into $venv (first time: about 2-3 minutes)" >&2
"$venv/bin/python" -m pip install --quiet --upgrade "pip==24.2"
req_args=()
for lock in "${locks[@]}"; do req_args+=(-r "$lock"); done
"$venv/bin/python" -m pip install --quiet --no-deps "${req_args[@]}"
"$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
"$venv/bin/python" -m pip check >&2 || { echo "setup: pip check found inconsistent packages" >&2; exit 1; }
rm -f "$venv"/.installed-*
touch "$stamp"
echo "setup: done" >&2
