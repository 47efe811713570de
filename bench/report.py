"""The table of issue 11 from the probes' lines (bench/common.py says their form): printed, and with --doc written
to docs/benchmarks.md with the machine it ran on and every figure's statistics.

usage: python3 report.py RESULTS.tsv MACHINE.txt --parts P,... --rounds N --scale N [--doc PATH]
"""
import argparse
import os
import math
import statistics

parser = argparse.ArgumentParser()
parser.add_argument("results")
parser.add_argument("machine")
parser.add_argument("--parts", default="")
parser.add_argument("--rounds", type=int, default=20)
parser.add_argument("--scale", type=int, default=200)
parser.add_argument("--doc")
args = parser.parse_args()

samples, failures, notes = {}, {}, {}
for line in open(args.results):
    fields = line.rstrip("\n").split("\t")
    if len(fields) == 2:
        samples.setdefault(fields[0], []).append(float(fields[1]))
    elif len(fields) == 3 and fields[1] == "FAIL":
        failures.setdefault(fields[0], []).append(fields[2])
    elif len(fields) == 3 and fields[1] == "NOTE":
        notes.setdefault(fields[0], []).append(fields[2])
machine = dict(line.rstrip("\n").split("=", 1) for line in open(args.machine) if "=" in line)

UNITS = {"cold": "ms", "warm": "ms", "login": "ms", "ws": "ms", "ct": "ms", "image": "s", "key": "ms", "tput": "MB/s", "mem": "MB",
         "scale.start": "ms", "scale.late": "s", "scale.idled.cpu": "% of a CPU"}


def unit_of(key):
    if key.startswith("app.small"):
        return "errors" if key.endswith(".errors") else "req/s"
    if key.startswith("app.big"):
        return "errors" if key.endswith(".errors") else "MB/s"
    for prefix in sorted(UNITS, key=len, reverse=True):
        if key.startswith(prefix):
            return UNITS[prefix]
    return ""


def p95(values):
    v = sorted(values)
    return v[max(0, math.ceil(len(v) * 0.95) - 1)]


def med(key):
    return statistics.median(samples[key]) if samples.get(key) else None


def fmt(value):
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def cell(key, p=True):
    """'median (p95 …)' and the failures, or why there is no figure."""
    if not samples.get(key):
        why = failures.get(key)
        return f"failed: {' '.join(why[0].replace(chr(92) + 'r', ' ').replace(chr(92) + 'n', ' ').split())[:110]}" if why else "not measured"
    text = fmt(med(key))
    if p and len(samples[key]) > 1:
        text += f" (p95 {fmt(p95(samples[key]))})"
    n_fail = len(failures.get(key, []))
    errors = sum(samples.get(f"{key}.errors", []))
    if n_fail:
        text += f", {n_fail} failed"
    if errors:
        text += f", {errors:.0f} HTTP errors"
    return text


def verdict(ok, why):
    if ok is None:
        return "not measured"
    return ("met" if ok else "**missed**") + (f": {why}" if why else "")


def ratio(a, b):
    return a / b if a is not None and b else None


def times(r):
    return f"{r:.2f}×" if r < 1.5 else f"{r:.1f}×"


def both(*keys):
    return all(med(k) is not None for k in keys)


rows = []   # (figure, Studio, peers, target, verdict)

# 1. cold start
s, c = med("cold.studio"), med("cold.cockpit")
rows.append(("cold start: socket activation → first byte of the dashboard, ms",
             cell("cold.studio"), f"Cockpit's login page: {cell('cold.cockpit')}",
             "faster than Cockpit; under 60 ms",
             verdict(s < c and s < 60 if both("cold.studio", "cold.cockpit") else None,
                     f"{times(ratio(c, s))} faster" if both("cold.studio", "cold.cockpit") and s < c else "")))
rows.append(("… warm (the service running), ms", cell("warm.studio"), f"Cockpit: {cell('warm.cockpit')}", "—", "—"))
# 2. login
for kind in ("warm", "cold"):
    s, c = med(f"login.{kind}.studio"), med(f"login.{kind}.cockpit")
    ok = s < c if both(f"login.{kind}.studio", f"login.{kind}.cockpit") else None
    if ok and s > 0.97 * c:   # within 3%: not shown to be faster
        rows.append((f"login through PAM, {kind}, request → response, ms", cell(f"login.{kind}.studio"),
                     f"Cockpit `GET /cockpit/login`: {cell(f'login.{kind}.cockpit')}", "faster than Cockpit",
                     f"**missed**: a tie ({times(ratio(c, s))}), within the noise"))
        continue
    rows.append((f"login through PAM, {kind}, request → response, ms", cell(f"login.{kind}.studio"),
                 f"Cockpit `GET /cockpit/login`: {cell(f'login.{kind}.cockpit')}", "faster than Cockpit",
                 verdict(ok, f"{times(ratio(c, s))} faster" if ok else (f"{times(ratio(s, c))} slower" if ok is False else ""))))
# 3. workspace start
f = med("ws.floor")
for kind in ("warm", "cold"):
    s = med(f"ws.studio.{kind}")
    ok = s <= 1.5 * f if both(f"ws.studio.{kind}", "ws.floor") else None
    rows.append((f"workspace start → usable terminal, host backend, {kind} broker, ms", cell(f"ws.studio.{kind}"),
                 f"`systemd-run` of a shell on a pty, the same properties: {cell('ws.floor')}", "within 1.5× of the floor",
                 verdict(ok, f"{ratio(s, f):.2f}× the floor" if ok is not None else "")))
# 4. containers: the peer is nspawn with `--private-users=pick` running /bin/true; the second one has Studio's
# overlay and fixed range in nspawn's own options (bench/probe_container.py)
p, o = med("ct.peer.pick"), med("ct.peer.overlay")
for kind in ("warm", "cold"):
    s = med(f"ct.studio.{kind}")
    ok, why = None, ""
    if both(f"ct.studio.{kind}", "ct.peer.pick"):
        ok = s <= 2 * p and s < 300
        why = f"{ratio(s, p):.2f}× `nspawn … /bin/true`" + (f", {ratio(s, o):.2f}× the overlay one" if o else "")
        if not ok:
            why += "".join([" (over 2×)" if s > 2 * p else "", f"; {fmt(s)} ms, over 300 ms" if s >= 300 else ""])
    rows.append((f"container workspace start → usable terminal, {kind} broker, ms", cell(f"ct.studio.{kind}"),
                 f"`systemd-run --wait … systemd-nspawn … --private-users=pick /bin/true`: {cell('ct.peer.pick')}; "
                 f"the same with Studio's `--overlay` and fixed range: {cell('ct.peer.overlay')}",
                 "within 2× of `nspawn … /bin/true`; under 300 ms", verdict(ok, why)))
# 5. keystroke
s = med("key.studio")
rows.append(("terminal keystroke → echo, through studiod's WebSocket, ms", cell("key.studio"),
             f"Cockpit's terminal channel: {cell('key.cockpit')}", "under 2 ms p50 on loopback",
             verdict(s < 2 if s is not None else None,
                     f"{times(ratio(med('key.cockpit'), s))} faster than Cockpit" if both("key.studio", "key.cockpit") and med("key.cockpit") > s else "")))
# 6. throughput
s, c, p = med("tput.studio"), med("tput.cockpit"), med("tput.pty")
ok = (s > c and s >= 0.9 * p) if both("tput.studio", "tput.cockpit", "tput.pty") else None
rows.append(("terminal output throughput (a large `cat`, read by a WebSocket client), MB/s", cell("tput.studio"),
             f"Cockpit's terminal: {cell('tput.cockpit')}; a raw pty: {cell('tput.pty')}",
             "above Cockpit, and ≥ 90% of the raw pty",
             verdict(ok, f"{times(ratio(s, c))} Cockpit, {100 * s / p:.0f}% of the raw pty" if ok is not None else "")))
# 7. app proxy
for size, what in (("small", "requests/s, a 1 KB page"), ("big", "MB/s, a 1 MB file")):
    s, n, d = med(f"app.{size}.studio"), med(f"app.{size}.nginx"), med(f"app.{size}.direct")
    ok = s * 1.5 >= n if both(f"app.{size}.studio", f"app.{size}.nginx") else None
    if s is None and failures.get(f"app.{size}.studio"):
        rows.append((f"app proxy to an app on a unix socket, {what}", cell(f"app.{size}.studio"),
                     f"nginx proxying it: {cell(f'app.{size}.nginx')}; the app directly: {cell(f'app.{size}.direct')}",
                     "within 1.5× of nginx", "**missed**: Studio's proxy failed (below)"))
        continue
    rows.append((f"app proxy to an app on a unix socket, {what}", cell(f"app.{size}.studio"),
                 f"nginx proxying it: {cell(f'app.{size}.nginx')}; the app directly: {cell(f'app.{size}.direct')}",
                 "within 1.5× of nginx",
                 verdict(ok, (f"nginx {times(ratio(n, s))} Studio" if n > s else f"{times(ratio(s, n))} nginx") if ok is not None else "")))
# 8. memory
s = med("mem.studiod.idle")
rows.append(("memory (PSS), studiod idle / with 50 terminals, MB",
             f"{cell('mem.studiod.idle', False)} / {cell('mem.studiod.50', False)}",
             f"cockpit-ws: {cell('mem.cockpit-ws.idle', False)} / {cell('mem.cockpit-ws.50', False)}; cockpit-bridge: "
             f"{cell('mem.cockpit-bridge.idle', False)} / {cell('mem.cockpit-bridge.50', False)}",
             "studiod idle under 20 MB", verdict(s < 20 if s is not None else None, "")))
a = med("mem.agent.idle")
rows.append(("memory (PSS), an agent per workspace (no terminal; with 50 terminals; each of the scale run's), MB",
             f"{cell('mem.agent.idle', False)}; {cell('mem.agent.50', False)}; {cell('mem.agent.scale')}",
             "—", "agent under 8 MB", verdict(a < 8 if a is not None else None, "")))
rows.append(("memory (PSS), the broker; studio-idled, MB", f"{cell('mem.broker', False)}; {cell('mem.idled', False)}",
             "—", "—", "—"))
# 9. scale
late, cpu = samples.get("scale.late"), med("scale.idled.cpu")
ok = None
if late or failures.get("scale.late"):
    ok = not failures.get("scale.late") and max(late) <= 60 and cpu is not None and cpu < 1
rows.append((f"scale: {args.scale} workspaces with a 1 min idle timeout, left alone: each stop after its deadline, s",
             f"{cell('scale.late')}; max {fmt(max(late)) if late else '—'}; studio-idled {fmt(cpu)}% of a CPU",
             "—", "all within one period (60 s); studio-idled under 1% CPU",
             verdict(ok, "")))

header = "| figure | Studio | peer, same run | target | |\n|---|---|---|---|---|\n"
table = header + "".join(f"| {' | '.join(r)} |\n" for r in rows)

detail = "| key | unit | median | p95 | min | max | n | failed |\n|---|---|---|---|---|---|---|---|\n"
for key in sorted(set(samples) | set(failures)):
    v = samples.get(key, [])
    detail += (f"| `{key}` | {unit_of(key)} | {fmt(statistics.median(v)) if v else '—'} | {fmt(p95(v)) if v else '—'} | "
               f"{fmt(min(v)) if v else '—'} | {fmt(max(v)) if v else '—'} | {len(v)} | {len(failures.get(key, []))} |\n")
note_text = "".join(f"- `{k}`: {t}\n" for k, ts in notes.items() for t in ts)
fail_text = "".join(f"- `{k}`: {w}\n" for k, ws in failures.items() for w in ws[:3])

print(table)
print(f"Machine: {machine.get('cpus')} CPUs ({machine.get('model')}), kernel {machine.get('kernel')}, "
      f"{machine.get('systemd')}, {machine.get('date')}")
if note_text:
    print("\nNotes:\n" + note_text)
if fail_text:
    print("Failures (first 3 of each):\n" + fail_text)

if args.doc:
    with open(args.doc, "w") as out:
        out.write(f"""# Benchmarks

Studio beside its peers, every figure measured in the same run on the same machine (issue 11). Produced by
`make bench` (bench/run.sh); this page is its output, not edited by hand.

## The machine

- {machine.get('cpus')} CPUs: {machine.get('model')}; {machine.get('memory')} of memory; host virtualisation: {machine.get('virt')}
- kernel {machine.get('kernel')}; {machine.get('systemd')}, in a Debian bookworm machine booted under `systemd-nspawn -b`
  (tests/system/testbed.sh), sharing the host's network; other work may have run on the host meanwhile
- Studio {machine.get('studio')}; Cockpit (cockpit-ws) {machine.get('cockpit')}; nginx {machine.get('nginx')}; wrk {machine.get('wrk')}
- run {machine.get('date')}; {args.rounds} rounds of each timed figure ({args.rounds * 10} keystrokes), medians with p95

## The table

{table}
## What each row measures

Every probe runs inside the machine as root (bench/probe_*.py), Studio and its peer interleaved round by round, each
started the same way. An HTTP error, a refused upgrade, a timeout or a missing echo is a failure: counted in the
table, never timed.

- **cold start**: `systemctl stop studiod.service` (its socket keeps listening), then `GET /` on 127.0.0.1:7080 until
  the first byte of the answer (HTTP 200 required); beside it `systemctl stop 'cockpit*.service'` plus
  `reset-failed` (Cockpit's start limit is 5 in 10 s), then `GET /` on 127.0.0.1:9090 (cockpit.socket → cockpit-tls →
  cockpit-ws's login page, plain HTTP from loopback). The warm line is the same request again at once.
- **login**: `POST /api/v1/login` (studiod → the root broker → PAM `studio`; the session is logged out after, untimed)
  beside Cockpit's own login request `GET /cockpit/login` with `Authorization: Basic` (cockpit-ws → cockpit-session →
  PAM `cockpit` → cockpit-bridge), request to the end of the answer. Cold: studiod and the broker stopped first; every
  `cockpit*.service` stopped first.
- **workspace start → usable terminal**: as the dashboard does it, `POST /api/v1/workspaces/proj/start` (studiod →
  the broker → systemd starts the unit → the agent is ready) and then the terminal's WebSocket (studiod → the
  broker's relay → the agent → a new pty with the user's login shell), from the request until the shell's prompt has
  come and a typed `echo ready-$((40+2))` has answered `ready-42`. Cold: studio-sandbox.service stopped first (its
  socket starts it). The floor is the same timing of `systemd-run` (started with setpriv, as root: it needs it) of
  `/bin/bash -l` on a pty of the probe's own (`StandardInput=tty`, `TTYPath=`), with the workspace unit's own
  properties: its user, working directory and slice, the memory, CPU, tasks and IO limits read from the running
  workspace unit, and the sandboxing UnitSpecBuilder gives it; read from the pty's master.
- **container workspace start → usable terminal**: the same timing as the host workspace's, of the workspace `box`
  of a template with `Backend=container` and `Image=bench` (built in the run with `studioctl image build bench
  --suite bookworm`, debootstrap minbase; its time is in the notes): the unit's main process `studio-sandbox
  container-run` makes the idmapped mounts of the image and the project and becomes `systemd-nspawn
  --overlay=… --private-users=BASE:65536 --private-users-ownership=off …` with the agent as PID 1, and the terminal's
  shell is the owner's login shell inside. The workspace's first start (its range, layer and home) is untimed; every
  round is a stop and a start. The peer is the issue's: `systemd-run --wait -P -q -p Delegate=yes systemd-nspawn -q -D
  /var/lib/machines/bench --register=no --keep-unit --settings=no --link-journal=no --private-users=pick -- /bin/true`
  (nspawn picks a range and idmaps the image itself), started with setpriv as root as the host row's floor, until it
  exits. Beside it, the fairer one: the same with what Studio gives nspawn for the image and the range, in nspawn's
  own options, `--overlay=IMAGE:UPPER:/ --private-users=BASE:65536 --private-users-ownership=off` (a persistent upper
  of the probe's own; without Studio's idmapped lower, which plain nspawn cannot make, root inside could not write
  the image: `/bin/true` does not need to). Both peers run `/bin/true` and stop; Studio's figure goes on to a pty, a
  login shell and a typed command, as the host row does. Target: within 2× of the issue's peer and under 300 ms.
- **keystroke → echo**: one byte in a WebSocket frame to a bash at its prompt until the byte comes back: Studio's
  terminal WebSocket (studiod → the broker's relay → the agent → the pty) beside a `stream` channel with `spawn` and
  `pty: true` on cockpit-ws's `/cockpit/socket` (cockpit-ws → cockpit-bridge → the pty), as Cockpit's terminal opens
  it; the command line is cleared every 50 keys (untimed).
- **throughput**: in the same shells, `cat` of a {machine.get('tput_mb', '32')} MB base64 file followed by
  `echo end-$((6*7))`, from sending the command until `end-42` is read; MB/s of the file. The raw pty is the same
  shell on a pty whose master the probe reads directly. Cockpit's flow-control pings are answered as cockpit.js does.
- **app proxy**: the app is nginx (one worker) run by a workspace as its template's app on `$STUDIO_APP_SOCKET`,
  also listening on 127.0.0.1:8089. `wrk -t1 -c16 -d5s`, 3 rounds, through studiod's apps origin (a ticket opened
  for the `studio_app` cookie), through Debian's nginx (`proxy_pass http://unix:SOCKET:;`, its defaults: a new
  upstream connection per request, as Studio's proxy does) and to the app directly. Only 2xx answers count.
- **memory**: PSS (`/proc/PID/smaps_rollup`) of studiod just started and after one page, of a freshly started
  workspace's agent, the broker and studio-idled after the runs above; cockpit-ws and every cockpit-bridge after a
  login with its WebSocket open; then with 50 terminals open in each (50 Studio WebSockets, 50 Cockpit channels).
- **scale**: {args.scale} workspaces of a template with `[Idle] Timeout=1min`, started one after another with
  `studioctl start`, then left alone; each one's deadline is `idle.stopsAt` from `studioctl status --json` after its
  start, its stop the time of its audit entry (`STUDIO_AUDIT=1 STUDIO_EVENT=workspace-stop`). studio-idled's CPU is
  its utime+stime from `/proc/PID/stat` over the whole run (starts, wait, stops) divided by the wall time. "One
  period" is read as one idle timeout (60 s) after the deadline; studio-idled checks every 5 s.

## Every figure

{detail}
## Notes from the run

{note_text or '- none'}
{('## Failures (first 3 of each)' + chr(10) + chr(10) + fail_text) if fail_text else ''}
## Rerun

```sh
sudo ./dev bench        # or, set up already: sudo make bench
# parts only, fewer rounds (the table is printed, docs/benchmarks.md is left alone):
sudo bench/run.sh --only web,terminal --rounds 5 out/studio_*_amd64.deb
```
It boots a throwaway machine named studio-bench with ports 7080, 7081, 9090, 8088 and 8089 on the host's network, so
nothing else may listen there (another testbed machine: take `/tmp/studio-testbed.lock` with flock around it). It
downloads cockpit-ws, cockpit-system, nginx and wrk from Debian's mirror into the machine (kept in
/var/cache/studio-bench/apt for the next run), and the container part builds its image from the mirror with
debootstrap every run (about 30 s). A full run takes about 11 minutes on 2 cores.

""")
        # What the misses would take: written by hand, kept across runs.
        misses = os.path.join(os.path.dirname(os.path.abspath(__file__)), "misses.md")
        if os.path.exists(misses):
            out.write(open(misses).read())
    print(f"written to {args.doc}")
