# tests/harness.sh: what the throwaway-machine scripts share (tests/system/testbed.sh, tests/vm/vm.sh).
# Sourced, never run. The sourcing script sets PROG (its name, for messages) first.

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

need_root() { [[ $EUID -eq 0 ]] || die "must run as root"; }

# check_name NAME WHAT: NAME is a valid machine name ([a-z0-9][a-z0-9-]*), or die saying what it names.
check_name() {
    [[ ${1:-} =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] || die "bad ${2:-machine} name '${1:-}' (want [a-z0-9][a-z0-9-]*)"
}

# apt_install PACKAGE...: install them with apt-get, updating the package lists first (a fresh machine has none).
apt_install() {
    (($#)) || return 0
    log "installing $* with apt-get"
    apt-get update -q >&2 || die "apt-get update failed (is deb.debian.org reachable?)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "$@" >&2 ||
        die "could not install $*; install them by hand and retry"
}

# "STATE START" of a process, from /proc/PID/stat (fields 3 and 22), or nothing if it does not exist.
proc_stat() {
    local stat f
    [[ -n $1 ]] || return 1
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    read -ra f <<<"${stat##*) }"
    printf '%s %s\n' "${f[0]}" "${f[19]}"
}

# alive PID START: the process exists, is not a zombie, and is the same process (not a reused PID).
alive() {
    local s
    [[ -n ${1:-} ]] || return 1
    s=$(proc_stat "$1") || return 1
    [[ ${s%% *} != Z && ${s#* } == "$2" ]]
}
