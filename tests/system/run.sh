#!/bin/bash
# run.sh DEB [PYTEST ARGS...]: run the system tests against DEB in a throwaway machine (studio-test).
# Installs Debian's python3-pytest if missing, makes sure the testbed tree exists, and always takes the
# machine down again, whatever happens to pytest. Must run as root.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prog=${0##*/}
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

(($# >= 1)) || { echo "usage: $prog DEB [PYTEST ARGS...]" >&2; exit 2; }
deb=$(realpath -e -- "$1" 2>/dev/null) || die "no such .deb: $1 (build it with packaging/build-deb.sh out)"
shift
[[ $EUID -eq 0 ]] || die "must run as root (it boots a machine with systemd-nspawn)"

if ! /usr/bin/python3 -c 'import pytest' 2>/dev/null; then
    echo "$prog: installing python3-pytest" >&2
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-pytest >&2
fi
"$here/testbed.sh" tree >/dev/null

trap '"$here/testbed.sh" down studio-test' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$here/../.."
# Not the pyenv python3 that may come first on PATH: Debian's, with Debian's pytest.
STUDIO_DEB=$deb PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m pytest -v -p no:cacheprovider tests/system "$@"
