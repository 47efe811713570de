#!/bin/bash
# vm.sh: boot throwaway Debian bookworm VMs under qemu (software emulation), each with its own kernel.
#
# The nspawn testbed (tests/system/testbed.sh) shares the host's kernel, whose cgroup v1 controllers do not
# enforce limits inside a container. Here the guest runs Debian's cloud kernel with the unified cgroup
# hierarchy, so MemoryMax=, TasksMax= and CPUQuota= are enforced for real. No ssh, no network: the host talks
# to the guest over a virtio-serial port (tests/vm/guest/studio-vm-ctl.py, driven by tests/vm/vm.py).
# Must run as root. See /work/shared/testbed-notes.md.
#
#   vm.sh image                     make sure the cached VM tree (debootstrap + kernel) exists; print its path
#   vm.sh up NAME [DEB]             boot a fresh VM from the tree (DEB copied to /var/tmp/studio.deb inside)
#   vm.sh exec NAME CMD...          run CMD inside as root (stdin passed on unless it is a terminal)
#   vm.sh exec-as NAME USER CMD...  run CMD inside as USER, in USER's home
#   vm.sh down NAME                 power off (killed after a deadline) and remove the VM (idempotent)
#   vm.sh list                      list VMs that have state
#
# Environment: STUDIO_TESTBED_CACHE (tree cache, default /var/cache/studio-testbed),
# STUDIO_TESTBED_DIR (VM disks, sockets, console logs; default /var/lib/studio-testbed),
# STUDIO_TESTBED_MIRROR (default http://deb.debian.org/debian), STUDIO_VM_BOOT_TIMEOUT (s, default 300),
# STUDIO_VM_STOP_TIMEOUT (s, default 30), STUDIO_VM_MEMORY (MiB, default 2048), STUDIO_VM_CPUS (default 2),
# STUDIO_VM_DISK (default 3G), STUDIO_VM_EXEC_TIMEOUT (s, default 600).
set -euo pipefail
umask 022

readonly SUITE=bookworm
# testbed.sh's INCLUDE (the same userland), plus a kernel and what boots it.
readonly INCLUDE="systemd,systemd-sysv,dbus,libpam-systemd,systemd-container,curl,ca-certificates,libsqlite3-0,adduser,procps,python3,sudo,util-linux,debootstrap"
readonly VM_INCLUDE="linux-image-cloud-amd64,udev,initramfs-tools"
readonly MIRROR=${STUDIO_TESTBED_MIRROR:-http://deb.debian.org/debian}
readonly CACHE=${STUDIO_TESTBED_CACHE:-/var/cache/studio-testbed}
readonly BASE=${STUDIO_TESTBED_DIR:-/var/lib/studio-testbed}
readonly VMS=$BASE/vms LOGS=$BASE/logs
readonly BOOT_TIMEOUT=${STUDIO_VM_BOOT_TIMEOUT:-300} STOP_TIMEOUT=${STUDIO_VM_STOP_TIMEOUT:-30}
readonly MEMORY=${STUDIO_VM_MEMORY:-2048} CPUS=${STUDIO_VM_CPUS:-2} DISK=${STUDIO_VM_DISK:-3G}
readonly EXEC_TIMEOUT=${STUDIO_VM_EXEC_TIMEOUT:-600}
readonly CMDLINE="console=ttyS0,115200 root=/dev/vda rw fsck.mode=skip systemd.unified_cgroup_hierarchy=1 panic=-1"
readonly HERE=$(cd "$(dirname "$0")" && pwd)
readonly PY=/usr/bin/python3   # Debian's, not a pyenv one that may come first on PATH
readonly PROG=${0##*/}

# shellcheck source=../harness.sh
source "$HERE/../harness.sh"

usage() {
    sed -n '/^#   vm.sh/s/^#   /usage: /p' "$0" >&2
    exit 2
}

# Install the host tools this script needs, if missing.
need_tools() {
    local missing=()
    command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
    command -v flock >/dev/null || missing+=(util-linux)
    [[ -x $PY ]] || missing+=(python3)
    apt_install "${missing[@]}"
}

# The container image the VM tier's container tests start from (the VM has no network to build one itself):
# a plain minbase tree in the guest's /var/lib/machines, nothing of Studio inside.
readonly GUEST_IMAGE=built

tree_dir() {
    printf '%s/vm-%s-%s\n' "$CACHE" "$SUITE" "$(printf '%s+%s+image:%s' "$INCLUDE" "$VM_INCLUDE" "$GUEST_IMAGE" | sha256sum | cut -c1-12)"
}

vm_dir() { printf '%s/%s\n' "$VMS" "$1"; }

# PIDs of qemu processes whose command line names disk image $1 (found by their command line, like testbed.sh).
qemu_pids_for() {
    local p comm a args
    for p in /proc/[0-9]*; do
        read -r comm 2>/dev/null <"$p/comm" || continue
        [[ $comm == qemu-system-* ]] || continue
        mapfile -d '' -t args 2>/dev/null <"$p/cmdline" || continue
        for a in "${args[@]}"; do
            if [[ $a == *"file=$1,"* ]]; then printf '%s\n' "${p#/proc/}"; break; fi
        done
    done
    return 0
}

# Load the state of VM $1 into QEMU_PID and QEMU_START.
load_state() {
    QEMU_PID='' QEMU_START=''
    local file
    file=$(vm_dir "$1")/state
    [[ -f $file ]] || return 1
    # shellcheck disable=SC1090
    source "$file"
}

cmd_image() {
    need_root
    need_tools
    local dir tmp old
    dir=$(tree_dir)
    if [[ ! -d $dir ]]; then
        mkdir -p "$CACHE"
        exec 8>"$CACHE/.vm.lock"
        flock 8
        if [[ ! -d $dir ]]; then
            for old in "$CACHE"/.vm-"$SUITE"-*.tmp; do [[ -e $old ]] && rm -rf --one-file-system -- "$old"; done
            tmp=$(mktemp -d "$CACHE/.vm-$SUITE-XXXXXX.tmp")
            trap 'rm -rf --one-file-system -- "$tmp"' EXIT
            trap 'exit 130' INT
            trap 'exit 143' TERM
            log "building $dir with debootstrap (a few minutes; cached afterwards)"
            if ! debootstrap --variant=minbase --include="$INCLUDE,$VM_INCLUDE" "$SUITE" "$tmp" "$MIRROR" \
                >"$CACHE/vm-debootstrap.log" 2>&1; then
                tail -n 30 "$CACHE/vm-debootstrap.log" >&2
                die "debootstrap failed (last lines above; all in $CACHE/vm-debootstrap.log)"
            fi
            compgen -G "$tmp/boot/vmlinuz-*" >/dev/null && compgen -G "$tmp/boot/initrd.img-*" >/dev/null ||
                die "debootstrap made no kernel or no initrd in $tmp/boot (see $CACHE/vm-debootstrap.log)"
            rm -f "$tmp"/var/cache/apt/archives/*.deb
            log "building the guest's container image /var/lib/machines/$GUEST_IMAGE (minbase)"
            install -d -m 0700 "$tmp/var/lib/machines"
            if ! debootstrap --variant=minbase "$SUITE" "$tmp/var/lib/machines/$GUEST_IMAGE" "$MIRROR" \
                >"$CACHE/vm-image-debootstrap.log" 2>&1; then
                tail -n 30 "$CACHE/vm-image-debootstrap.log" >&2
                die "debootstrap of the guest's container image failed (all in $CACHE/vm-image-debootstrap.log)"
            fi
            rm -f "$tmp/var/lib/machines/$GUEST_IMAGE"/var/cache/apt/archives/*.deb
            chmod 0755 "$tmp/var/lib/machines/$GUEST_IMAGE"
            # mktemp -d made it 0700; booted, an unreadable / stops every non-root daemon (dbus) from starting.
            chmod 0755 "$tmp"
            mv -T "$tmp" "$dir"   # atomic: the tree is there whole or not at all
            trap - EXIT INT TERM
        fi
        exec 8>&-
    fi
    printf '%s\n' "$dir"
}

# What to show when a boot fails: the end of the console log.
console_tail() {
    local logf=$LOGS/$1.console.log
    printf '%s: last lines of the console log %s:\n' "$PROG" "$logf" >&2
    tail -n "${2:-30}" "$logf" 2>/dev/null | sed 's/\r$//' >&2 || true
}

# EXIT trap of `up`: on failure show the console and qemu's own output, and leave nothing behind.
up_failed() {
    [[ -z ${UP_OK:-} ]] || return 0
    log "up $UP_NAME did not complete; removing the VM"
    console_tail "$UP_NAME" 40
    if [[ -s $UP_DIR/qemu.log ]]; then
        log "qemu's output:"
        cat "$UP_DIR/qemu.log" >&2 || true
    fi
    [[ -z ${UP_WORK:-} ]] || rm -rf --one-file-system -- "$UP_WORK"
    cmd_down "$UP_NAME" >/dev/null 2>&1 || true
}

ctl() {   # ctl NAME TIMEOUT [--user U] -- CMD...: run CMD in the VM over the control channel
    local name=$1 timeout=$2
    shift 2
    "$PY" "$HERE/vm.py" run "$(vm_dir "$name")/ctl.sock" --timeout "$timeout" "$@"
}

cmd_up() {
    (($# == 1 || $# == 2)) || usage
    local name=$1 deb=${2:-}
    check_name "$name" VM
    need_root
    need_tools
    [[ -z $deb || -f $deb ]] || die "no such .deb: $deb (build it with: make deb)"
    if load_state "$name" && alive "$QEMU_PID" "$QEMU_START"; then
        die "VM $name is already up (qemu PID $QEMU_PID); run: $PROG down $name"
    fi
    local dir sock
    dir=$(vm_dir "$name")
    sock=$dir/ctl.sock
    ((${#sock} < 100)) || die "socket path $sock is too long for a unix socket; choose a shorter STUDIO_TESTBED_DIR"
    local tree
    tree=$(cmd_image)
    cmd_down "$name" >/dev/null 2>&1 || true   # leftovers of a crashed run, if any

    UP_NAME=$name UP_DIR=$dir UP_OK='' UP_WORK=''
    mkdir -p "$VMS" "$LOGS" "$dir"
    trap up_failed EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    local t0=$SECONDS

    # The kernel and initrd debootstrap installed (and made) in the tree, for qemu's -kernel/-initrd.
    local kernel initrd version
    kernel=$(ls -1 "$tree"/boot/vmlinuz-* | sort -V | tail -n 1)
    version=${kernel##*/vmlinuz-}
    initrd=$tree/boot/initrd.img-$version
    [[ -f $initrd ]] || die "no initrd for kernel $version in $tree/boot; remove $tree and run: $PROG image"
    cp -- "$kernel" "$dir/vmlinuz"
    cp -- "$initrd" "$dir/initrd.img"

    # A copy of the tree with this VM's own files, written into a fresh ext4 image.
    local work
    work=$(mktemp -d "$VMS/.$name-root-XXXXXX")
    UP_WORK=$work
    cp -a -- "$tree/." "$work/"
    chmod 0755 "$work"   # mktemp -d made it 0700 (see image)
    # Empty: systemd makes a fresh one at boot (not a "first boot": no firstboot prompts on the console).
    : >"$work/etc/machine-id"
    ln -sfn /etc/machine-id "$work/var/lib/dbus/machine-id"
    printf '%s\n' "$name" >"$work/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' "$name" >"$work/etc/hosts"
    printf '/dev/vda\t/\text4\tdefaults\t0\t0\n' >"$work/etc/fstab"
    install -D -m 0755 "$HERE/guest/studio-vm-ctl.py" "$work/usr/local/lib/studio-vm/studio-vm-ctl.py"
    install -D -m 0644 "$HERE/guest/studio-vm-ctl.service" "$work/etc/systemd/system/studio-vm-ctl.service"
    mkdir -p "$work/etc/systemd/system/sysinit.target.wants"
    ln -sfn /etc/systemd/system/studio-vm-ctl.service "$work/etc/systemd/system/sysinit.target.wants/studio-vm-ctl.service"
    # No network inside: apt's timers would only fail.
    ln -sfn /dev/null "$work/etc/systemd/system/apt-daily.timer"
    ln -sfn /dev/null "$work/etc/systemd/system/apt-daily-upgrade.timer"
    if [[ -n $deb ]]; then install -m 0644 -- "$deb" "$work/var/tmp/studio.deb"; fi
    truncate -s "$DISK" "$dir/disk.img"
    mkfs.ext4 -q -F -L studio-root -d "$work" "$dir/disk.img" >"$dir/mkfs.log" 2>&1 ||
        { cat "$dir/mkfs.log" >&2; die "mkfs.ext4 -d failed (output above); is $DISK (STUDIO_VM_DISK) too small?"; }
    rm -rf --one-file-system -- "$work"
    UP_WORK=''
    log "disk image ready in $((SECONDS - t0))s; booting (software emulation)"

    # -accel tcg: no KVM (it was seen to hang here). The console goes to a log file; the control channel is a
    # virtio-serial port, on the host a unix socket that qemu listens on.
    : >"$LOGS/$name.console.log"
    setsid qemu-system-x86_64 \
        -name "$name" -machine pc -accel tcg -cpu max -smp "$CPUS" -m "$MEMORY" \
        -nodefaults -no-user-config -display none -no-reboot -nic none \
        -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" -append "$CMDLINE" \
        -drive "file=$dir/disk.img,format=raw,if=virtio,cache=unsafe" \
        -serial "file:$LOGS/$name.console.log" \
        -device virtio-rng-pci \
        -device virtio-serial \
        -chardev "socket,path=$sock,server=on,wait=off,id=ctl" \
        -device virtserialport,chardev=ctl,name=studio.ctl \
        -qmp "unix:$dir/qmp.sock,server=on,wait=off" \
        </dev/null >"$dir/qemu.log" 2>&1 &
    local qpid=$! qstart
    qstart=$(proc_stat "$qpid") || die "qemu exited at once"
    qstart=${qstart#* }
    printf 'QEMU_PID=%s\nQEMU_START=%s\n' "$qpid" "$qstart" >"$dir/state"

    # Wait until the guest's control service answers, then until the boot is over.
    local deadline=$((SECONDS + BOOT_TIMEOUT))
    until "$PY" "$HERE/vm.py" ping "$sock" --timeout 3 2>/dev/null; do
        alive "$qpid" "$qstart" || die "qemu exited while VM $name was booting"
        ((SECONDS < deadline)) || die "VM $name did not answer on its control channel within ${BOOT_TIMEOUT}s (STUDIO_VM_BOOT_TIMEOUT); is studio-vm-ctl.service running? see the console below"
        sleep 1
    done
    log "VM $name answers after $((SECONDS - t0))s"
    local left st
    left=$((deadline - SECONDS))
    ((left > 10)) || left=10
    st=$(ctl "$name" "$left" -- systemctl is-system-running --wait) || true
    case $st in
    running) ;;
    degraded)
        log "VM $name is degraded; failed units:"
        ctl "$name" 30 -- systemctl --failed --no-pager --no-legend >&2 || true ;;
    *) die "VM $name did not finish booting within ${BOOT_TIMEOUT}s (systemctl is-system-running: ${st:-no answer}); jobs: $(ctl "$name" 30 -- systemctl list-jobs --no-pager 2>&1 | head -n 20)" ;;
    esac
    UP_OK=1
    trap - EXIT INT TERM
    log "VM $name is $st after $((SECONDS - t0))s (qemu PID $qpid; console log $LOGS/$name.console.log)"
}

cmd_exec() {
    (($# >= 2)) || usage
    check_name "$1" VM
    local name=$1
    shift
    load_state "$name" && alive "$QEMU_PID" "$QEMU_START" || die "VM $name is not up; run: $PROG up $name"
    ctl "$name" "$EXEC_TIMEOUT" -- "$@"
}

cmd_exec_as() {
    (($# >= 3)) || usage
    check_name "$1" VM
    local name=$1 user=$2
    shift 2
    load_state "$name" && alive "$QEMU_PID" "$QEMU_START" || die "VM $name is not up; run: $PROG up $name"
    ctl "$name" "$EXEC_TIMEOUT" --user "$user" -- "$@"
}

cmd_down() {
    (($# == 1)) || usage
    local name=$1
    check_name "$name" VM
    need_root
    local dir pids=() p s left
    dir=$(vm_dir "$name")
    if load_state "$name" && alive "$QEMU_PID" "$QEMU_START"; then pids+=("$QEMU_PID"); fi
    for p in $(qemu_pids_for "$dir/disk.img"); do [[ " ${pids[*]} " == *" $p "* ]] || pids+=("$p"); done

    if ((${#pids[@]})); then
        # An orderly power-off first (the disk is thrown away anyway, but the console log then tells a true
        # story): the ACPI power button through qemu's QMP socket, which works even while the control channel
        # is busy; qemu exits by itself when the guest powers off.
        "$PY" "$HERE/vm.py" powerdown "$dir/qmp.sock" 2>/dev/null ||
            ctl "$name" 10 -- systemctl poweroff --no-block >/dev/null 2>&1 || true
        local deadline=$((SECONDS + STOP_TIMEOUT)) sig=''
        while :; do
            left=()
            for p in "${pids[@]}"; do
                s=$(proc_stat "$p") && [[ ${s%% *} != Z ]] && left+=("$p")
            done
            ((${#left[@]})) || break
            if ((SECONDS >= deadline)); then
                case $sig in
                '') log "VM $name did not power off within ${STOP_TIMEOUT}s; stopping qemu"; sig=TERM ;;
                TERM) sig=KILL ;;
                KILL) die "could not kill qemu ${left[*]}" ;;
                esac
                kill -"$sig" "${left[@]}" 2>/dev/null || true
                deadline=$((SECONDS + 5))
            fi
            sleep 0.2
        done
        # Give the host's init a moment to reap them, so no <defunct> entry is left in ps either.
        for _ in {1..30}; do
            left=()
            for p in "${pids[@]}"; do [[ -e /proc/$p ]] && left+=("$p"); done
            ((${#left[@]})) || break
            sleep 0.1
        done
    fi
    rm -rf --one-file-system -- "$dir"
    rm -rf --one-file-system -- "$VMS/.$name-root-"*
    return 0
}

cmd_list() {
    local d n
    for d in "$VMS"/*; do
        [[ -d $d ]] || continue
        n=${d##*/}
        if load_state "$n" && alive "$QEMU_PID" "$QEMU_START"; then
            printf '%s\tup (qemu PID %s)\n' "$n" "$QEMU_PID"
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
    image) (($# == 0)) || usage; cmd_image ;;
    up) cmd_up "$@" ;;
    exec) cmd_exec "$@" ;;
    exec-as) cmd_exec_as "$@" ;;
    down) cmd_down "$@" ;;
    list) cmd_list ;;
    -h | --help | help) usage ;;
    *) log "unknown command '$cmd'"; usage ;;
    esac
}

main "$@"
