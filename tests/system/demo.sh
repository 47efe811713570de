#!/bin/bash
# demo.sh DEB: try Studio in a throwaway machine (studio-demo) and leave it running.
# Boots it, installs DEB, adds the user "demo" (password "demo"), waits for http://127.0.0.1:7080/healthz and says
# how to get in and how to stop it. Must run as root.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prog=${0##*/}
name=studio-demo
tb=$(realpath --relative-to=. "$here/testbed.sh")   # as the user would type it from here
[[ $tb == */* ]] || tb=./$tb
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

(($# == 1)) || { echo "usage: $prog DEB" >&2; exit 2; }
deb=$(realpath -e -- "$1" 2>/dev/null) || die "no such .deb: $1 (build it with packaging/build-deb.sh out)"

"$tb" down "$name"   # a demo left over from last time
"$tb" up "$name"
ok=''
trap '[[ -n $ok ]] || { echo "$prog: failed; taking $name down" >&2; "$tb" down "$name"; }' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$tb" install "$name" "$deb"
"$tb" exec "$name" useradd -m -s /bin/bash demo
printf 'demo:demo\n' | "$tb" exec "$name" chpasswd

for _ in $(seq 1 300); do
    curl -fsS --noproxy '*' -o /dev/null --max-time 5 http://127.0.0.1:7080/healthz 2>/dev/null && ok=1 && break
    sleep 0.1
done
[[ -n $ok ]] || die "http://127.0.0.1:7080/healthz does not answer after 30 s; see: $tb exec $name journalctl -u studiod.service"

"$tb" exec-as "$name" demo mkdir -p /home/demo/myproject

cat <<MSG

Studio is running in the machine "$name" (it shares this host's network).

  Dashboard http://127.0.0.1:7080/    log in as demo, password demo
            (from another computer: ssh -L 7080:127.0.0.1:7080 -L 7081:127.0.0.1:7081 this-host)
  Health    curl http://127.0.0.1:7080/healthz
  As demo   $tb exec-as $name demo bash       (user demo, password demo)
            then: cd ~/myproject && studioctl start myproject && studioctl shell myproject
            (detach with Ctrl-\\ d; studioctl --help lists every verb)
  As root   $tb exec $name bash
  Logs      $tb exec $name journalctl -u 'studio*'
  Audit     $tb exec $name journalctl STUDIO_AUDIT=1
  Stop it   ./dev demo-stop     (or: $tb down $name)
MSG
