# Sourced by scripts/demo and scripts/test: create .venv and install the pinned dependencies once.
# Idempotent: reinstalls only when pyproject.toml changed (or the venv is missing or broken).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON:-python3}"

ensure_venv() {
  local extras="$1" stamp want
  if ! "$PYTHON_BIN" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 14) else 1)'; then
    echo "error: Python 3.11 to 3.14 is required (found $("$PYTHON_BIN" --version 2>&1)); set PYTHON=/path/to/python3.x" >&2
    exit 1
  fi
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    echo "==> creating virtual environment in .venv"
    rm -rf "$VENV"
    "$PYTHON_BIN" -m venv "$VENV"
  fi
  stamp="$VENV/.installed-$extras"
  want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
  # The dev install includes the runtime one.
  if [ "$extras" = "runtime" ] && [ -f "$VENV/.installed-dev" ] && [ "$(cat "$VENV/.installed-dev")" = "$want" ]; then
    return 0
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing dependencies ($extras) into .venv"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    # The code runs from the checkout; only the pinned dependencies are installed (plus the project's
    # metadata, in editable mode, for its entry points).
    "$VENV/bin/python" - "$ROOT/pyproject.toml" "$extras" > "$VENV/requirements-$extras.txt" <<'PY'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
wanted = list(project["dependencies"])
if sys.argv[2] != "runtime":
    wanted += project["optional-dependencies"][sys.argv[2]]
print("\n".join(wanted))
PY
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$VENV/requirements-$extras.txt"
    rm -f "$VENV"/.installed-*
    install_project_metadata
    echo "$want" > "$stamp"
  fi
  # Entry points (the `celery -A project schedules` sub-command) need the project's own metadata.
  if ! "$VENV/bin/python" -c 'import importlib.metadata as m; m.distribution("ostinato")' 2>/dev/null; then
    install_project_metadata
  fi
  # The standalone `project` is not part of the distribution: the checkout is on this venv's path, so
  # `celery -A project ...` and `gunicorn project.wsgi` work from any directory.
  local site
  site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  [ "$(cat "$site/ostinato-checkout.pth" 2>/dev/null)" = "$ROOT" ] || echo "$ROOT" > "$site/ostinato-checkout.pth"
}

install_project_metadata() {
  # Editable and without dependencies: the code still runs from the checkout, and the pinned
  # dependencies above stay the only ones installed. Quiet and idempotent.
  local log="$VENV/editable-install.log"
  if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --editable "$ROOT" >"$log" 2>&1; then
    cat "$log" >&2
    echo "error: could not install the project's metadata (editable, no dependencies)" >&2
    exit 1
  fi
}
