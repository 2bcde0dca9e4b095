#!/usr/bin/env bash
# Creates .venv with Python 3.10 and installs the locked dependencies and this project into it.
# Idempotent: does nothing when .venv already matches the lock files. Usage: scripts/bootstrap.sh [--dev]
#
# Installs with uv when it can be had (a uv on the PATH, or the one pinned with hashes in requirements-uv.lock,
# installed into .venv-tools/), else with pip; both install the same hash-checked lock, without resolution.
# Environment: PYTHON=/path/to/python3.10 picks the interpreter; TAXI_SETUP_NO_UV=1 forces pip;
# TAXI_SETUP_VENV=DIR builds DIR instead of .venv and TAXI_SETUP_TOOLS=DIR puts uv there instead of
# .venv-tools (tests build both paths side by side);
# uv reads its own UV_* settings (UV_CACHE_DIR, UV_DEFAULT_INDEX for a mirror), not pip's configuration.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1
venv=${TAXI_SETUP_VENV:-.venv}
tools=${TAXI_SETUP_TOOLS:-.venv-tools}

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

# Prints the uv to install with, or fails (then pip installs). A uv on the PATH wins; else the pinned
# release is installed from the package index by the found Python's pip, hash-checked, wheels only.
find_uv() {
  [ -n "${TAXI_SETUP_NO_UV:-}" ] && return 1
  if command -v uv >/dev/null 2>&1; then command -v uv; return; fi
  local pinned
  pinned=$(sed -n 's/^uv==\([^ ]*\).*/\1/p' requirements-uv.lock)
  if [ -x "$tools/bin/uv" ] && [ "$("$tools/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" = "$pinned" ]; then
    echo "$tools/bin/uv"; return
  fi
  rm -rf "$tools"
  "$1" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --only-binary :all: --require-hashes \
    --target "$tools" -r requirements-uv.lock >&2 || return 1
  [ -x "$tools/bin/uv" ] && echo "$tools/bin/uv"
}

locks=(requirements.lock)
[ "$dev" = 1 ] && locks+=(requirements-dev.lock)
# The stamp a venv gets once it holds exactly these locks (and this pyproject.toml).
stamp_of() { echo "$venv/.installed-$(cat "$@" pyproject.toml | sha256sum | cut -c1-16)"; }
stamp=$(stamp_of "${locks[@]}")
if [ -f "$stamp" ]; then
  exit 0
fi
# A venv set up with --dev holds every runtime package too: `make run` after `make test` keeps the dev tools
# instead of syncing them away (and `make test` then installing them again).
if [ "$dev" = 0 ] && [ -f "$(stamp_of requirements.lock requirements-dev.lock)" ]; then
  exit 0
fi

py=""  # set when the venv must be (re)created
[ -x "$venv/bin/python" ] && is_py310 "$venv/bin/python" || py=$(find_python)
# uv is installed by a base Python's pip (an existing venv may lack pip); the venv's own as a last resort.
uv=$(find_uv "${py:-$(find_python 2>/dev/null || echo "$venv/bin/python")}") || uv=""

if [ -n "$py" ]; then
  echo "setup: creating $venv with $py" >&2
  rm -rf "$venv"
  if [ -n "$uv" ]; then "$uv" venv --quiet --python "$py" "$venv"; else "$py" -m venv "$venv"; fi
fi

if [ -n "$uv" ]; then
  echo "setup: installing locked dependencies into $venv with $uv (first time: under a minute)" >&2
  # sync: exactly the lock's set (removes anything else); the lock's hashes are required; no resolution.
  "$uv" pip sync --quiet --python "$venv/bin/python" --require-hashes "${locks[@]}"
  "$uv" pip install --quiet --python "$venv/bin/python" --no-deps --no-build-isolation -e .
  "$uv" pip check --quiet --python "$venv/bin/python" >&2 || { echo "setup: uv pip check found inconsistent packages" >&2; exit 1; }
else
  [ -n "${TAXI_SETUP_NO_UV:-}" ] || echo "setup: uv could not be installed; installing with pip instead (slower)" >&2
  echo "setup: installing locked dependencies into $venv with pip (first time: about 3-4 minutes)" >&2
  req_args=()
  for lock in "${locks[@]}"; do req_args+=(-r "$lock"); done
  # The locks pin pip and setuptools too, so the venv's own copies are replaced: the same set as uv's.
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes "${req_args[@]}"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
  "$venv/bin/python" -m pip check >&2 || { echo "setup: pip check found inconsistent packages" >&2; exit 1; }
fi
rm -f "$venv"/.installed-*
touch "$stamp"
echo "setup: done" >&2
