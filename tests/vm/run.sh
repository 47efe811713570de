#!/bin/bash
# run.sh DEB [PYTEST ARGS...]: run the VM tests against DEB in a throwaway VM (studio-vm) with its own kernel.
# Installs its host tools if missing (qemu-system-x86, debootstrap, e2fsprogs, python3-pytest), makes sure the
# VM tree exists (built once with debootstrap, then cached), and always takes the VM down again, whatever
# happens to pytest. Must run as root.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prog=${0##*/}
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

(($# >= 1)) || { echo "usage: $prog DEB [PYTEST ARGS...]" >&2; exit 2; }
deb=$(realpath -e -- "$1" 2>/dev/null) || die "no such .deb: $1 (build it with: make deb)"
shift
[[ $EUID -eq 0 ]] || die "must run as root (it builds a VM image and boots it with qemu)"

if ! /usr/bin/python3 -c 'import pytest' 2>/dev/null; then
    echo "$prog: installing python3-pytest" >&2
    apt-get update -q >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
        python3-pytest >&2 || die "could not install python3-pytest"
fi
start=$SECONDS
"$here/vm.sh" image >/dev/null
echo "$prog: VM tree ready after $((SECONDS - start))s" >&2

trap '"$here/vm.sh" down studio-vm' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$here/../.."
# All of tests/vm, unless the arguments name tests themselves (tests/vm/test_x.py, tests/vm/test_x.py::test_y).
paths=(tests/vm)
for a in "$@"; do
    if [[ $a != -* && -e ${a%%::*} ]]; then paths=(); break; fi
done
# Not the pyenv python3 that may come first on PATH: Debian's, with Debian's pytest.
STUDIO_DEB=$deb PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m pytest -v -p no:cacheprovider "${paths[@]}" "$@"
