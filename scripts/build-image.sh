#!/usr/bin/env bash
# Builds the convtrack image, tagged with the project version: convtrack:<version>.
#
#   scripts/build-image.sh                    (what `make image` runs)
#
# 1. Chooses the base image. BASE_IMAGE from the environment wins. Otherwise the official
#    python:3.11-slim-bookworm if it is present locally or can be pulled; when no registry is
#    reachable, the local Debian base (convtrack-base:bookworm), built by
#    scripts/local-base-image.sh the first time.
# 2. Builds the wheel directory build/wheelhouse on the host with pip (the project's
#    dependencies and its build backend), because pip inside the image build has no network.
# 3. `docker build` installs from that directory only (--no-index).
#
# Environment: PYTHON (host interpreter for pip; default .venv/bin/python), BASE_IMAGE,
# IMAGE_NAME (default convtrack), PULL_TIMEOUT (seconds, default 60).
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-.venv/bin/python}"
official_base="python:3.11-slim-bookworm"
local_base="convtrack-base:bookworm"
version="$("$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
image="${IMAGE_NAME:-convtrack}:${version}"
wheelhouse="build/wheelhouse"

if [[ -n "${BASE_IMAGE:-}" ]]; then
  base="$BASE_IMAGE"
  echo "build-image: base $base (from BASE_IMAGE)"
elif docker image inspect "$official_base" >/dev/null 2>&1 \
  || timeout "${PULL_TIMEOUT:-60}" docker pull --quiet "$official_base" >/dev/null 2>&1; then
  base="$official_base"
  echo "build-image: base $base (official image)"
else
  base="$local_base"
  echo "build-image: no registry reachable for $official_base; using the local base $base"
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    scripts/local-base-image.sh "$base"
  fi
fi

# Compiled wheels (grpcio, numpy, scipy, ...) are built for the host's Python: the image's
# Python must be the same minor version.
python_minor='import sys; print("%d.%d" % sys.version_info[:2])'
host_python="$("$python" -c "$python_minor")"
base_python="$(docker run --rm --network none --entrypoint python3 "$base" -c "$python_minor")"
if [[ "$host_python" != "$base_python" ]]; then
  echo "build-image: $base has Python $base_python but the wheels come from Python" \
    "$host_python ($python); use a base image with Python $host_python or set PYTHON" >&2
  exit 1
fi

rm -rf "$wheelhouse"
mkdir -p "$wheelhouse"
"$python" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$wheelhouse" .
# The image builds the project's own wheel from the sources in the build context.
rm -f "$wheelhouse"/convtrack-*.whl
build_requires="$("$python" -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))')"
# shellcheck disable=SC2086  # one argument per requirement
"$python" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
  --dest "$wheelhouse" $build_requires

docker build --build-arg "BASE_IMAGE=$base" --build-arg "VERSION=$version" --tag "$image" .
echo "build-image: built $image on $base"
