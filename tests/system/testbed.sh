#!/bin/bash
# testbed.sh: boot throwaway Debian bookworm machines under `systemd-nspawn -b`.
#
# Used by the system tests (tests/system/) and by the "try Studio" demo. The machines share the host's
# network namespace, so a socket unit listening on 127.0.0.1:7080 inside is reachable from the host.
# Must run as root. See /work/shared/testbed-notes.md for why a booted machine is needed.
#
#   testbed.sh tree                 make sure the cached debootstrap tree exists; print its path
#   testbed.sh up NAME              boot a fresh machine from the tree; wait until it is running
#   testbed.sh exec NAME CMD...     run CMD inside as root
#   testbed.sh exec-as NAME USER CMD...   run CMD inside as USER (with USER's HOME)
#   testbed.sh install NAME DEB     install DEB inside with apt (no downloads allowed)
#   testbed.sh pid NAME             print the PID (on the host) of the machine's PID 1
#   testbed.sh down NAME            power off, remove the machine root and state (idempotent)
#   testbed.sh list                 list machines that have state or a root
#
# Environment: STUDIO_TESTBED_CACHE (tree cache, default /var/cache/studio-testbed),
# STUDIO_TESTBED_DIR (machine roots, console logs; default /var/lib/studio-testbed),
# STUDIO_TESTBED_MIRROR (default http://deb.debian.org/debian),
# STUDIO_TESTBED_BOOT_TIMEOUT (s, default 90), STUDIO_TESTBED_STOP_TIMEOUT (s, default 30).
set -euo pipefail
# Whatever the caller's umask, what this script creates for the machine to read must be readable there.
umask 022

readonly SUITE=bookworm
readonly INCLUDE="systemd,systemd-sysv,dbus,libpam-systemd,systemd-container,curl,ca-certificates,libsqlite3-0,adduser,procps,python3,sudo,util-linux,debootstrap"
readonly MIRROR=${STUDIO_TESTBED_MIRROR:-http://deb.debian.org/debian}
readonly CACHE=${STUDIO_TESTBED_CACHE:-/var/cache/studio-testbed}
readonly BASE=${STUDIO_TESTBED_DIR:-/var/lib/studio-testbed}
readonly MACHINES=$BASE/machines LOGS=$BASE/logs STATE=/run/studio-testbed
readonly BOOT_TIMEOUT=${STUDIO_TESTBED_BOOT_TIMEOUT:-90} STOP_TIMEOUT=${STUDIO_TESTBED_STOP_TIMEOUT:-30}
readonly PORTS=(7080 7081)   # what studiod.socket listens on inside; the host must leave them free
readonly IN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
readonly PROG=${0##*/}

# shellcheck source=../harness.sh
source "$(dirname "$0")/../harness.sh"

usage() {
    sed -n '/^#   testbed.sh/s/^#   /usage: /p' "$0" >&2
    exit 2
}

# Install the host tools this script needs, if missing.
need_tools() {
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
    command -v nsenter >/dev/null || missing+=(util-linux)
    command -v ss >/dev/null || missing+=(iproute2)
    command -v flock >/dev/null || missing+=(util-linux)
    apt_install "${missing[@]}"
}

tree_dir() { printf '%s/%s-%s\n' "$CACHE" "$SUITE" "$(printf %s "$INCLUDE" | sha256sum | cut -c1-12)"; }

# Unmount whatever the host has mounted at or below $1, then delete it without crossing file systems.
remove_tree() {
    local dir=$1 mnt
    [[ -e $dir ]] || return 0
    while read -r mnt; do
        if [[ $mnt == "$dir" || $mnt == "$dir"/* ]]; then umount -l "$mnt" 2>/dev/null || true; fi
    done < <(findmnt -rn -o TARGET | sort -r)
    rm -rf --one-file-system -- "$dir"
}

cmd_tree() {
    need_root
    need_tools
    local dir tmp old
    dir=$(tree_dir)
    if [[ ! -d $dir ]]; then
        mkdir -p "$CACHE"
        exec 8>"$CACHE/.lock"
        flock 8
        if [[ ! -d $dir ]]; then
            for old in "$CACHE"/."$SUITE"-*.tmp; do remove_tree "$old"; done   # left by a killed build
            tmp=$(mktemp -d "$CACHE/.$SUITE-XXXXXX.tmp")
            trap 'remove_tree "$tmp"' EXIT
            trap 'exit 130' INT
            trap 'exit 143' TERM
            log "building $dir with debootstrap (about a minute)"
            if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
                tail -n 30 "$CACHE/debootstrap.log" >&2
                die "debootstrap failed (last lines above; all in $CACHE/debootstrap.log)"
            fi
            rm -f "$tmp"/var/cache/apt/archives/*.deb
            # mktemp -d made it 0700; booted, an unreadable / stops every non-root daemon (dbus) from starting.
            chmod 0755 "$tmp"
            mv -T "$tmp" "$dir"   # atomic: the tree is there whole or not at all
            trap - EXIT INT TERM
        fi
        exec 8>&-
    fi
    printf '%s\n' "$dir"
}

# Load the state of machine $1 into NSPAWN_PID, NSPAWN_START, LEADER_PID, LEADER_START, ROOT.
load_state() {
    NSPAWN_PID='' NSPAWN_START='' LEADER_PID='' LEADER_START='' ROOT=$MACHINES/$1
    local file=$STATE/$1/state
    [[ -f $file ]] || return 1
    # shellcheck disable=SC1090
    source "$file"
}

# PIDs of systemd-nspawn processes running on machine root $1 (found by their command line; no forks).
nspawn_pids_for() {
    local p comm a args
    for p in /proc/[0-9]*; do
        read -r comm 2>/dev/null <"$p/comm" || continue
        [[ $comm == systemd-nspawn ]] || continue
        mapfile -d '' -t args 2>/dev/null <"$p/cmdline" || continue
        for a in "${args[@]}"; do
            if [[ $a == "$1" ]]; then printf '%s\n' "${p#/proc/}"; break; fi
        done
    done
    return 0
}

# The main systemd-nspawn process of machine root $1: a match whose parent is not one (it forks helpers that
# carry the same command line for a moment).
nspawn_main_for() {
    local pids p stat f
    mapfile -t pids < <(nspawn_pids_for "$1")
    for p in "${pids[@]}"; do
        read -r stat 2>/dev/null <"/proc/$p/stat" || continue
        read -ra f <<<"${stat##*) }"
        [[ " ${pids[*]} " == *" ${f[1]} "* ]] || { printf '%s\n' "$p"; return 0; }
    done
    return 0
}

# PID 1 of the machine: the child of systemd-nspawn $1 whose PID inside its own namespace is 1.
leader_of() {
    local kids=() c line
    read -ra kids 2>/dev/null <"/proc/$1/task/$1/children" || true   # no newline at its end: read "fails"
    for c in "${kids[@]}"; do
        while read -r line; do
            if [[ $line == NSpid:* && ${line##*[[:space:]]} == 1 ]]; then printf '%s\n' "$c"; return 0; fi
        done 2>/dev/null <"/proc/$c/status"
    done
    return 0
}

leader_pid() {
    load_state "$1" || die "machine $1 is not up (no state in $STATE/$1); run: $PROG up $1"
    alive "$LEADER_PID" "$LEADER_START" || die "machine $1 is not running (PID 1 $LEADER_PID is gone); see $LOGS/$1.console.log"
    printf '%s\n' "$LEADER_PID"
}

cmd_pid() { check_name "${1:-}"; leader_pid "$1"; }

# in_machine PID CMD...: run CMD as root in all namespaces of PID, root dir and cwd "/", clean environment.
in_machine() {
    local pid=$1
    shift
    exec nsenter -t "$pid" -a -r -w -- /usr/bin/env -i PATH="$IN_PATH" HOME=/root USER=root LOGNAME=root \
        SHELL=/bin/bash LANG=C.UTF-8 TERM="${TERM:-dumb}" DEBIAN_FRONTEND=noninteractive "$@"
}

cmd_exec() {
    (($# >= 2)) || usage
    check_name "$1"
    local pid
    pid=$(leader_pid "$1")
    shift
    in_machine "$pid" "$@"
}

cmd_exec_as() {
    (($# >= 3)) || usage
    check_name "$1"
    local pid
    pid=$(leader_pid "$1")
    shift
    # setpriv --reset-env sets HOME, SHELL, USER, LOGNAME, PATH from the user's passwd entry.
    # shellcheck disable=SC2016
    in_machine "$pid" /bin/sh -c '
        u=$1; shift
        g=$(id -g -- "$u") || { echo "testbed: no user $u in the machine" >&2; exit 125; }
        exec setpriv --reuid="$u" --regid="$g" --init-groups --reset-env \
            /bin/sh -c "cd \"\$HOME\" 2>/dev/null || cd /; exec env LANG=C.UTF-8 \"\$@\"" sh "$@"
    ' sh "$@"
}

port_users() {
    local port out=''
    for port in "${PORTS[@]}"; do
        out+=$(ss -Hltnp "sport = :$port" 2>/dev/null)
    done
    printf '%s' "$out"
}

# EXIT trap of `up`: on failure show the console log and leave nothing behind.
up_failed() {
    [[ -z ${UP_OK:-} ]] || return 0
    log "up $UP_NAME did not complete; removing the machine. End of its console log $UP_LOG:"
    tail -n 40 "$UP_LOG" >&2 2>/dev/null || true
    cmd_down "$UP_NAME" || true
}

cmd_up() {
    (($# == 1)) || usage
    local name=$1
    check_name "$name"
    need_root
    need_tools
    if load_state "$name" && alive "$NSPAWN_PID" "$NSPAWN_START"; then
        die "machine $name is already up (systemd-nspawn PID $NSPAWN_PID); run: $PROG down $name"
    fi
    local busy
    busy=$(port_users)
    [[ -z $busy ]] || die "a port Studio listens on inside (${PORTS[*]}) is already in use on the host (the machine shares the host network, and Studio listens there inside):
$busy
stop whatever listens there (another testbed machine? $PROG list) and retry"
    local tree
    tree=$(cmd_tree)
    cmd_down "$name" 2>/dev/null   # leftovers of a crashed run, if any
    local root=$MACHINES/$name state=$STATE/$name
    UP_NAME=$name UP_LOG=$LOGS/$name.console.log UP_OK=''
    mkdir -p "$MACHINES" "$LOGS" "$state"
    trap up_failed EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    cp -a --reflink=auto "$tree" "$root"
    # Empty: systemd makes a fresh one at boot (and it is not a "first boot", so no firstboot prompts). dbus's
    # copy must go, or systemd takes the tree's ID from it and every machine has the same one.
    : >"$root/etc/machine-id"
    ln -sfn /etc/machine-id "$root/var/lib/dbus/machine-id"
    printf '%s\n' "$name" >"$root/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' "$name" >"$root/etc/hosts"

    setsid systemd-nspawn -D "$root" -b -M "$name" --register=no --keep-unit --console=passive \
        --link-journal=no --settings=no </dev/null >"$UP_LOG" 2>&1 &
    local deadline=$((SECONDS + BOOT_TIMEOUT)) npid='' nstart
    while [[ -z $npid ]]; do
        ((SECONDS < deadline)) || die "systemd-nspawn did not start"
        npid=$(nspawn_main_for "$root")
        [[ -n $npid ]] || sleep 0.02
    done
    nstart=$(proc_stat "$npid") || die "systemd-nspawn exited at once"
    nstart=${nstart#* }
    printf 'NSPAWN_PID=%s\nNSPAWN_START=%s\nROOT=%q\n' "$npid" "$nstart" "$root" >"$state/state"

    local lpid=''
    while [[ -z $lpid ]]; do
        alive "$npid" "$nstart" || die "systemd-nspawn exited during boot"
        ((SECONDS < deadline)) || die "no PID 1 under systemd-nspawn after ${BOOT_TIMEOUT}s"
        lpid=$(leader_of "$npid")
        [[ -n $lpid ]] || sleep 0.02
    done
    local lstart
    lstart=$(proc_stat "$lpid") && lstart=${lstart#* }
    printf 'LEADER_PID=%s\nLEADER_START=%s\n' "$lpid" "$lstart" >>"$state/state"

    # Wait until the manager answers, then until boot is over.
    local st=''
    while :; do
        alive "$npid" "$nstart" || die "machine $name died during boot"
        ((SECONDS < deadline)) || die "machine $name not up after ${BOOT_TIMEOUT}s (state: ${st:-no answer})"
        st=$(timeout $((deadline - SECONDS + 1)) nsenter -t "$lpid" -a -r -w -- /usr/bin/env -i PATH="$IN_PATH" \
            systemctl is-system-running --wait 2>/dev/null) || true
        case $st in
        running) break ;;
        degraded)
            log "machine $name is degraded; failed units:"
            nsenter -t "$lpid" -a -r -w -- /usr/bin/env -i PATH="$IN_PATH" systemctl --failed --no-pager --no-legend >&2 || true
            break ;;
        *) sleep 0.1 ;;
        esac
    done
    UP_OK=1
    trap - EXIT INT TERM
    log "machine $name is $st (PID 1 = $lpid on the host; console log $UP_LOG)"
}

cmd_install() {
    (($# == 2)) || usage
    local name=$1 deb=$2
    check_name "$name"
    [[ -f $deb ]] || die "no such .deb: $deb"
    local pid base
    pid=$(leader_pid "$name")
    base=$(basename -- "$deb")
    [[ $base == *.deb ]] || die "not a .deb: $deb"
    load_state "$name"
    install -D -m 0644 -- "$deb" "$ROOT/var/tmp/testbed/$base"   # not /tmp: that is a tmpfs inside

    # The tree carries the package lists, so apt can say what the .deb would pull in; it must be nothing
    # (the machine is to be used without downloads).
    local plan extra
    plan=$( (in_machine "$pid" apt-get install -s -y --no-download "/var/tmp/testbed/$base") 2>&1) ||
        { printf '%s\n' "$plan" >&2; die "apt-get cannot install $base in $name (output above)"; }
    extra=$(awk '$1 == "Inst" {print $2}' <<<"$plan" | grep -vx -- "$(dpkg-deb -f "$deb" Package)" || true)
    [[ -z $extra ]] || die "$base needs packages the testbed tree lacks (would download): ${extra//$'\n'/ };
add them to INCLUDE in $0"
    # Not --no-download here: apt (2.6) then fails on local .deb files ("Pathname to install is not absolute").
    (in_machine "$pid" apt-get install -y -q -o Dpkg::Use-Pty=0 "/var/tmp/testbed/$base") ||
        die "apt-get install of $base in $name failed"
    rm -f -- "$ROOT/var/tmp/testbed/$base"
}

cmd_down() {
    (($# == 1)) || usage
    local name=$1
    check_name "$name"
    need_root
    load_state "$name" || true
    local root=$ROOT pids=() kids=() p s c

    if alive "$NSPAWN_PID" "$NSPAWN_START"; then pids+=("$NSPAWN_PID"); fi
    for p in $(nspawn_pids_for "$root"); do [[ " ${pids[*]} " == *" $p "* ]] || pids+=("$p"); done

    if ((${#pids[@]})); then
        if ! alive "$LEADER_PID" "$LEADER_START"; then   # no state (a crashed `up`): find PID 1 by hand
            for p in "${pids[@]}"; do
                LEADER_PID=$(leader_of "$p")
                [[ -z $LEADER_PID ]] || break
            done
            if LEADER_START=$(proc_stat "$LEADER_PID"); then LEADER_START=${LEADER_START#* }; fi
        fi
        if alive "$LEADER_PID" "$LEADER_START"; then
            timeout 5 nsenter -t "$LEADER_PID" -a -r -w -- /usr/bin/env -i PATH="$IN_PATH" \
                systemctl poweroff --no-block >/dev/null 2>&1 || kill -TERM "${pids[@]}" 2>/dev/null || true
        else
            kill -TERM "${pids[@]}" 2>/dev/null || true   # nspawn turns SIGTERM into an orderly shutdown
        fi
        local deadline=$((SECONDS + STOP_TIMEOUT)) left killed=''
        while :; do
            left=()
            for p in "${pids[@]}"; do
                s=$(proc_stat "$p") && [[ ${s%% *} != Z ]] && left+=("$p")
            done
            ((${#left[@]})) || break
            if ((SECONDS >= deadline)); then
                [[ -z $killed ]] || die "could not kill systemd-nspawn ${left[*]}"
                log "machine $name did not power off within ${STOP_TIMEOUT}s; killing it"
                # The machine's PID 1 first (the kernel then kills the rest of its PID namespace): a killed
                # systemd-nspawn would leave it running on its own.
                for p in "${left[@]}"; do
                    kids=()
                    read -ra kids 2>/dev/null <"/proc/$p/task/$p/children" || true
                    for c in "${kids[@]}"; do kill -KILL "$c" 2>/dev/null || true; done
                done
                kill -KILL "${left[@]}" 2>/dev/null || true
                killed=1 deadline=$((SECONDS + 5))
            fi
            sleep 0.1
        done
        # Give the host's init a moment to reap them, so no <defunct> entry is left in ps either.
        for _ in {1..30}; do
            left=()
            for p in "${pids[@]}"; do [[ -e /proc/$p ]] && left+=("$p"); done
            ((${#left[@]})) || break
            sleep 0.1
        done
    fi
    # Nothing else of the machine can be left: when a PID namespace's PID 1 dies, the kernel kills the rest
    # of it (processes that `exec` put there included).
    remove_tree "$root"
    rm -rf -- "${STATE:?}/$name"
    rm -rf -- "/run/systemd/nspawn/propagate/$name"
    return 0
}

cmd_list() {
    local d n
    for d in "$STATE"/* "$MACHINES"/*; do
        [[ -e $d ]] && printf '%s\n' "${d##*/}"
    done | sort -u | while read -r n; do
        if load_state "$n" && alive "$LEADER_PID" "$LEADER_START"; then
            printf '%s\tup (PID 1 = %s)\n' "$n" "$LEADER_PID"
        else
            printf '%s\tdown (leftovers; run: %s down %s)\n' "$n" "$PROG" "$n"
        fi
    done
}

main() {
    (($#)) || usage
    local cmd=$1
    shift
    case $cmd in
    tree) (($# == 0)) || usage; cmd_tree ;;
    up) cmd_up "$@" ;;
    exec) cmd_exec "$@" ;;
    exec-as) cmd_exec_as "$@" ;;
    install) cmd_install "$@" ;;
    pid) cmd_pid "$@" ;;
    down) cmd_down "$@" ;;
    list) cmd_list ;;
    -h | --help | help) usage ;;
    *) log "unknown command '$cmd'"; usage ;;
    esac
}

main "$@"
