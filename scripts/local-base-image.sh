#!/usr/bin/env bash
# Builds a Debian base image locally for machines that reach no image registry: debootstrap a
# minimal Debian with Python from Debian's own packages, then `docker import` it.
#
#   scripts/local-base-image.sh [IMAGE]        (default convtrack-base:bookworm)
#
# Needs root, `debootstrap` and a running dockerd (`apt-get install -y docker.io debootstrap`).
# Environment: DEBIAN_SUITE (default bookworm, whose python3 is 3.11 like the official
# python:3.11-slim-bookworm image), DEBIAN_MIRROR (default deb.debian.org). Takes about a minute.
set -euo pipefail

image="${1:-convtrack-base:bookworm}"
suite="${DEBIAN_SUITE:-bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [[ "$(id -u)" != 0 ]]; then
  echo "local-base-image: debootstrap needs root" >&2
  exit 1
fi
for tool in debootstrap docker; do
  if ! command -v "$tool" >/dev/null; then
    echo "local-base-image: '$tool' is missing (apt-get install -y docker.io debootstrap)" >&2
    exit 1
  fi
done

rootfs="$(mktemp -d /tmp/convtrack-base.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT

debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  "$suite" "$rootfs" "$mirror"

# Nothing the image needs at run time: package caches, lists and logs.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/var/log/* "$rootfs"/tmp/*

tar --numeric-owner -C "$rootfs" -c . |
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --message "debootstrap --variant=minbase $suite with python3, python3-venv" \
    - "$image"
echo "local-base-image: built $image ($(docker run --rm "$image" python3 --version))"
