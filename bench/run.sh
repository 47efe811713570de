#!/bin/bash
# Benchmarks, run on purpose (`sudo make bench`), never inside the test suite. Boots a throwaway machine with the
# .deb installed and prints figures with their peer measured in the same run:
#   - studioctl start / stop of a workspace (a transient unit with limits, Type=notify, agent ready)
#     vs systemd-run --wait true and systemd-run -p Type=notify (the floor: systemd's own transient units);
#   - studiod's first byte when socket-activated cold, and warm;
#   - the dashboard's first page cold and warm, a login through PAM, a terminal keystroke to its echo
#     (bench/web_probe.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tb="$here/../tests/system/testbed.sh"
deb=${1:?usage: bench/run.sh DEB [ROUNDS]}
rounds=${2:-20}
name=studio-bench

"$tb" tree >/dev/null
"$tb" up "$name" >/dev/null
trap '"$tb" down "$name" >/dev/null 2>&1 || true' EXIT
"$tb" install "$name" "$deb" >/dev/null
"$tb" exec "$name" useradd -m -s /bin/bash bench
"$tb" exec-as "$name" bench mkdir -p /home/bench/proj
printf 'bench:bench-password\n' | "$tb" exec "$name" chpasswd

# Each probe prints one duration in milliseconds per round; stats.py summarizes.
"$tb" exec "$name" bash -s "$rounds" >/tmp/studio-bench.tsv <<'PROBE'
set -eu
rounds=$1
# $EPOCHREALTIME without its dot is microseconds.
ms() { local s=${1/./} e=${2/./}; printf '%d.%03d' $(((e - s) / 1000)) $(((e - s) % 1000)); }
as_bench() { runuser -u bench -- env -C /home/bench/proj "$@"; }
as_bench studioctl start proj >/dev/null && as_bench studioctl stop proj >/dev/null   # warm the broker
# The sandboxing properties a workspace unit gets (UnitSpecBuilder.sandboxing).
sandboxing=""
for p in PrivateTmp ProtectKernelTunables ProtectKernelModules ProtectKernelLogs ProtectControlGroups ProtectClock \
         ProtectHostname RestrictRealtime LockPersonality RestrictSUIDSGID NoNewPrivileges; do
    sandboxing+=" -p $p=yes"
done
for _ in $(seq "$rounds"); do
    s=$EPOCHREALTIME; as_bench studioctl start proj >/dev/null; e=$EPOCHREALTIME
    printf 'studioctl start (workspace running, agent ready)\t%s\n' "$(ms "$s" "$e")"
    s=$EPOCHREALTIME; as_bench studioctl stop proj >/dev/null; e=$EPOCHREALTIME
    printf 'studioctl stop\t%s\n' "$(ms "$s" "$e")"
    s=$EPOCHREALTIME; systemd-run --quiet --wait true; e=$EPOCHREALTIME
    printf 'peer: systemd-run --wait true\t%s\n' "$(ms "$s" "$e")"
    s=$EPOCHREALTIME; systemd-run --quiet --unit=bench-notify -p Type=notify -p NotifyAccess=all sh -c 'systemd-notify --ready; sleep 60'; e=$EPOCHREALTIME
    printf 'peer: systemd-run -p Type=notify (start only)\t%s\n' "$(ms "$s" "$e")"
    systemctl stop bench-notify.service
    s=$EPOCHREALTIME; systemd-run --quiet --unit=bench-sandboxed -p Type=notify -p NotifyAccess=all -p User=bench $sandboxing \
        sh -c 'systemd-notify --ready; sleep 60'; e=$EPOCHREALTIME
    printf 'peer: the same, as a user, with a workspace'"'"'s sandboxing\t%s\n' "$(ms "$s" "$e")"
    systemctl stop bench-sandboxed.service
done
for _ in $(seq "$rounds"); do
    systemctl stop studiod.service 2>/dev/null
    t=$(curl -s -o /dev/null -w '%{time_starttransfer}' http://127.0.0.1:7080/healthz)
    printf 'studiod /healthz first byte, cold (socket-activated)\t%s\n' "$(python3 -c "print($t*1000)")"
    t=$(curl -s -o /dev/null -w '%{time_starttransfer}' http://127.0.0.1:7080/healthz)
    printf 'studiod /healthz first byte, warm\t%s\n' "$(python3 -c "print($t*1000)")"
done
PROBE
# The web: first page, login, terminal keystroke (bench/web_probe.py, run inside the machine).
"$tb" exec-as "$name" bench studioctl start proj >/dev/null
"$tb" exec "$name" python3 - "$rounds" bench bench-password proj <"$here/web_probe.py" >>/tmp/studio-bench.tsv

python3 - /tmp/studio-bench.tsv <<'STATS'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, value = line.rstrip("\n").split("\t")
    rows.setdefault(label, []).append(float(value))
print(f"{'':66} {'median':>9} {'p90':>9} {'min':>9} {'n':>5}  (ms)")
for label, values in rows.items():
    values.sort()
    p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
    print(f"{label:66} {statistics.median(values):9.2f} {p90:9.2f} {values[0]:9.2f} {len(values):5}")
STATS
