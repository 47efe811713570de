#!/bin/bash
# Benchmarks against the peers (issue 11), run on purpose (`sudo make bench`), never inside the test suite.
# Boots a throwaway machine (tests/system/testbed.sh, machine studio-bench), installs the .deb and the peers
# (Debian's cockpit-ws, cockpit-system, nginx, and wrk, with apt inside the machine), runs the probes there
# (bench/probe_*.py, as root; each figure beside its peer, interleaved round by round), prints one table and, after a
# run of every part, writes it to docs/benchmarks.md with the machine it ran on.
#
# usage: bench/run.sh [--only PART,...] [--rounds N] [--scale N] [--no-doc] [--keep] DEB
#   parts: web (cold start, logins), workspace (start to a usable terminal), container (the image `bench` built,
#          then a container workspace's start to a usable terminal beside systemd-nspawn), terminal (keystroke,
#          throughput, memory), apps (the app proxy under wrk), scale (N workspaces idle-stopped; default 200)
#   --rounds N   repetitions of each timed figure (default 20; keystrokes 10×N)
#   --keep       leave the machine up afterwards (to look at it; tests/system/testbed.sh down studio-bench)
# The machine shares the host's network (ports 7080, 7081, 9090, 8088, 8089): run it under the testbed lock, e.g.
#   flock /tmp/studio-testbed.lock bench/run.sh out/studio_0.1.0-1_amd64.deb
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
tb="$repo/tests/system/testbed.sh"
name=studio-bench
parts=web,workspace,container,terminal,apps,scale
rounds=20 scale=200 doc=yes keep=no
while (($#)); do
    case $1 in
    --only) parts=$2; doc=no; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --no-doc) doc=no; shift ;;
    --keep) keep=yes; shift ;;
    -h | --help) sed -n '2,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    -*) echo "bench: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
deb=${1:?usage: bench/run.sh [--only PART,...] [--rounds N] [--scale N] [--no-doc] DEB}
[[ -f $deb ]] || { echo "bench: no such .deb: $deb" >&2; exit 1; }
[[ $rounds == 20 && $scale == 200 ]] || doc=no   # docs/benchmarks.md holds full runs only
has() { [[ ,$parts, == *,$1,* ]]; }
say() { printf 'bench: %s\n' "$*" >&2; }

results=$repo/out/bench
mkdir -p "$results"
tsv=$results/results.tsv
: >"$tsv"
started=$SECONDS

"$tb" tree >/dev/null
"$tb" up "$name" >/dev/null
if [[ $keep == yes ]]; then
    say "the machine stays up (--keep): tests/system/testbed.sh down $name"
else
    trap '"$tb" down "$name" >/dev/null 2>&1 || true' EXIT
fi
root=/var/lib/studio-testbed/machines/$name
inside() { "$tb" exec "$name" "$@"; }

say "installing Studio and the peers in $name"
"$tb" install "$name" "$deb" >/dev/null
# Peers from Debian's mirror (the machine shares the host's network). Their .debs are kept on the host between runs;
# no service may start during the install (nginx's default site would take port 80 on the host).
cache=/var/cache/studio-bench/apt
mkdir -p "$cache"
cp -n "$cache"/*.deb "$root/var/cache/apt/archives/" 2>/dev/null || true
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
inside apt-get update -q >/dev/null
inside apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 cockpit-ws cockpit-system nginx wrk >/dev/null
cp -n "$root"/var/cache/apt/archives/*.deb "$cache/" 2>/dev/null || true
rm -f "$root/usr/sbin/policy-rc.d" "$root"/etc/nginx/sites-enabled/default

# The probes and what they use: a user with a password, its workspaces, templates, the app's files.
rm -rf "$root/srv/bench"
cp -r "$here" "$root/srv/bench"
inside useradd -m -s /bin/bash bench
printf 'bench:bench-password\n' | inside chpasswd
inside install -d -o bench -g bench /home/bench/proj /home/bench/app /home/bench/scale /home/bench/box
inside sh -c 'mkdir -p /srv/bench/www && head -c 768 /dev/urandom | base64 -w 64 >/srv/bench/www/index.html &&
          head -c 1000000 /dev/urandom >/srv/bench/www/big.bin &&
          head -c 24000000 /dev/urandom | base64 -w 76 >/srv/bench/big.txt && chmod -R a+rX /srv/bench'
cat >"$root/etc/studio/templates/bench-app.conf" <<'EOF'
[Template]
Description=bench: an nginx serving files as the workspace's app
Backend=host
[App:web]
Command=mkdir -p /tmp/bench-app && sed "s|@SOCKET@|$STUDIO_APP_SOCKET|" /srv/bench/app-nginx.conf >/tmp/bench-app/nginx.conf && exec /usr/sbin/nginx -p /tmp/bench-app -e stderr -c /tmp/bench-app/nginx.conf
EOF
cat >"$root/etc/studio/templates/bench-idle.conf" <<'EOF'
[Template]
Description=bench: stopped after one idle minute
Backend=host
[Idle]
Timeout=1min
EOF
cat >"$root/etc/studio/templates/bench-box.conf" <<'EOF'
[Template]
Description=bench: a container workspace on the image bench
Backend=container
Image=bench
EOF
# The peer proxy's workers run as root: the app's socket is in the workspace's private /tmp, under root's 0700.
sed -i 's/^user .*/user root;/' "$root/etc/nginx/nginx.conf"
inside systemctl start cockpit.socket nginx.service
inside systemctl is-active -q studiod.socket studio-sandbox.socket studio-idled.service cockpit.socket nginx.service

machine_info() {
    inside sh -c 'printf "cpus=%s\nmodel=%s\nkernel=%s\nsystemd=%s\ncockpit=%s\nnginx=%s\nwrk=%s\nstudio=%s\nmemory=%s\n" \
        "$(nproc)" "$(sed -n "s/^model name[[:space:]]*: //p" /proc/cpuinfo | head -n1)" "$(uname -r)" \
        "$(systemctl --version | head -n1)" "$(dpkg-query -W -f="\${Version}" cockpit-ws)" \
        "$(dpkg-query -W -f="\${Version}" nginx)" "$(dpkg-query -W -f="\${Version}" wrk)" \
        "$(dpkg-query -W -f="\${Version}" studio)" "$(free -m | awk "/^Mem:/ {print \$2}") MB"'
    printf 'date=%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf 'virt=%s\n' "$(systemd-detect-virt 2>/dev/null || echo unknown)"
}
machine_info >"$results/machine.txt"

probe() {
    local part=$1 limit=$2
    shift 2
    say "$part"
    inside timeout "$limit" env -C /srv/bench python3 "$@" >>"$tsv" ||
        say "$part: the probe failed (exit $?; 124: it took over $limit s); its figures are missing"
}
has web && probe "cold start and logins" 600 probe_web.py "$rounds"
if has workspace; then probe "workspace start to a usable terminal" 600 probe_workspace.py "$rounds" proj; fi
if has container; then
    # The image, as an admin makes one (debootstrap from Debian's mirror inside the machine): context, not a row.
    say "building the image bench (studioctl image build, debootstrap)"
    t0=$EPOCHREALTIME
    if inside studioctl image build bench --suite bookworm >"$results/image-build.log" 2>&1; then
        t1=$EPOCHREALTIME
        secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
        printf 'image.build\t%s\n' "$secs" >>"$tsv"
        printf 'image.build\tNOTE\t`studioctl image build bench --suite bookworm` (debootstrap, variant minbase, from deb.debian.org inside the machine): %s s, %s\n' \
            "$secs" "$(inside du -sh --one-file-system /var/lib/machines/bench | cut -f1)" >>"$tsv"
        probe "container workspace start to a usable terminal" 900 probe_container.py "$rounds" box bench-box bench
    else
        printf 'image.build\tFAIL\t%s\n' "$(tail -n 3 "$results/image-build.log" | tr '\t\n' '  ')" >>"$tsv"
        say "container: the image could not be built (out/bench/image-build.log); no container figures"
    fi
fi
if has terminal; then
    inside runuser -u bench -- env -C /home/bench/proj studioctl start proj >/dev/null
    probe "terminals and memory" 600 probe_terminal.py "$rounds" proj /srv/bench/big.txt
fi
if has apps; then
    inside runuser -u bench -- env -C /home/bench/app studioctl start app --template bench-app >/dev/null
    probe "the app proxy" 300 probe_apps.py 3 5 16 app web
    inside runuser -u bench -- studioctl stop app >/dev/null
fi
if has scale; then
    inside runuser -u bench -- studioctl stop proj >/dev/null 2>&1 || true
    probe "scale: $scale workspaces idle-stopped" 900 probe_scale.py "$scale" bench-idle
fi
say "done in $((SECONDS - started)) s"

args=("$tsv" "$results/machine.txt" --parts "$parts" --rounds "$rounds" --scale "$scale")
[[ $doc == yes ]] && args+=(--doc "$repo/docs/benchmarks.md")
python3 "$here/report.py" "${args[@]}"
