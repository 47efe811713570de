#!/bin/bash
# Installs what building and testing Studio needs on a Debian 12 machine (Swift itself is expected in /opt/swift
# or on PATH). Idempotent and quiet when everything is already there. ./dev runs it before make, so a machine with
# nothing but the Swift toolchain needs no other step; make's own targets run it again (a no-op by then).
set -euo pipefail

packages=(
    # the entry points themselves, and what dpkg-buildpackage checks for
    make git build-essential
    # build
    dpkg-dev debhelper lintian libsystemd-dev libpam0g-dev libsqlite3-dev libssl-dev node-xterm pkg-config
    # booted test machines (testbed.sh: debootstrap, nspawn, nsenter, flock, ss)
    debootstrap systemd-container util-linux iproute2 ca-certificates
    # tests
    curl python3 python3-pytest
)

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    if [[ $(id -u) != 0 ]]; then
        echo "setup-host: missing packages: ${missing[*]}; run as root (sudo) to install them" >&2
        exit 1
    fi
    echo "setup-host: installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null; then
    if [[ -x /opt/swift/usr/bin/swift ]]; then
        echo "setup-host: swift is in /opt/swift/usr/bin but not on PATH; the Makefile adds it" >&2
    else
        echo "setup-host: Swift 6 is not installed; install a Swift 6.x toolchain for Linux into /opt/swift" >&2
        exit 1
    fi
fi
