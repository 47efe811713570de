"""Scale: COUNT workspaces of a template whose [Idle] Timeout= is 1min, started one after another by their owner with
`studioctl start`, then left alone until studio-idled has stopped them all.

  scale.start            ms per `studioctl start` (the workspaces already running stay up)
  scale.late             s from each workspace's deadline (`idle.stopsAt` as studioctl status --json gives it after
                         the start) to its stop's audit entry (STUDIO_EVENT=workspace-stop, STUDIO_AUDIT=1)
  scale.idled.cpu        studio-idled's CPU time (utime+stime from /proc/PID/stat) over the whole run, as % of one CPU
  mem.agent.scale        PSS (MB) of each workspace's agent with all COUNT running
The spread of the stops, how many stopped for idleness, and the run's length are notes.

usage: python3 probe_scale.py COUNT TEMPLATE
"""
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

from common import USER, cpu_ticks, emit, fail, launcher, main_pid, note, pss_mb, sh

count, template = int(sys.argv[1]), sys.argv[2]
names = [f"s{i:03d}" for i in range(count)]
home = f"/home/{USER}"
ticks_per_second = os.sysconf("SC_CLK_TCK")


def as_user(script, *args):
    return subprocess.run(launcher(USER) + ["sh", "-c", script, "sh", *args], capture_output=True, text=True)


def parse_time(value):
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def stop_at(document):
    """The `idle` object's stopAt (studioctl --json) or stopsAt (the web API), wherever it is in DOCUMENT."""
    if isinstance(document, dict):
        idle = document.get("idle")
        if isinstance(idle, dict):
            value = idle.get("stopAt", idle.get("stopsAt"))
            return parse_time(value) if value is not None else None
        for value in document.values():
            found = stop_at(value)
            if found is not None:
                return found
    return None


idled = main_pid("studio-idled.service")
cpu0, wall0 = cpu_ticks(idled), time.monotonic()
since = time.time()
started = {}
for name in names:
    os.makedirs(f"{home}/scale/{name}", exist_ok=True)
    os.chown(f"{home}/scale/{name}", *(lambda e: (e.pw_uid, e.pw_gid))(__import__("pwd").getpwnam(USER)))
for name in names:
    t = time.perf_counter()
    r = as_user(f'cd "$HOME/scale/$1" && exec studioctl start "$1" --template {template}', name)
    if r.returncode != 0:
        fail("scale.start", f"{name}: {r.stderr.strip()}")
        continue
    emit("scale.start", (time.perf_counter() - t) * 1000)
    started[name] = time.time()
note("scale", f"{len(started)} of {count} started in {time.time() - since:.0f} s")

agents = [main_pid(f"studio-ws-{USER}-{n}.service") for n in started]
pss = [pss_mb(p) for p in agents if p]
for value in pss:
    emit("mem.agent.scale", value)

# Each one's deadline, as the user sees it (studio-idled publishes it after its next check: ask again for a while).
deadlines = {name: None for name in started}
for attempt in range(6):
    for name in [n for n, d in deadlines.items() if d is None]:
        r = as_user('exec studioctl status "$1" --json', name)
        try:
            deadlines[name] = stop_at(json.loads(r.stdout))
        except ValueError:
            pass
    if all(deadlines.values()):
        break
    time.sleep(2)
unknown = [n for n, d in deadlines.items() if d is None]
if unknown:
    note("scale", f"{len(unknown)} had no stopAt in `studioctl status` 10 s after the starts: their deadline is "
                  f"taken as start + 60 s")
    for n in unknown:
        deadlines[n] = started[n] + 60

# Wait for every stop's audit entry (at most 3 periods after the last deadline).
stops = {}
limit = max(deadlines.values()) + 180
while len(stops) < len(started) and time.time() < limit:
    time.sleep(5)
    out = sh("journalctl", "-q", "-o", "json", "STUDIO_AUDIT=1", "STUDIO_EVENT=workspace-stop", f"STUDIO_USER={USER}",
             "--since", f"@{int(since)}", check=False).stdout
    for line in out.splitlines():
        entry = json.loads(line)
        name = entry.get("STUDIO_WORKSPACE")
        if name in started and name not in stops:
            stops[name] = (int(entry["__REALTIME_TIMESTAMP"]) / 1e6, entry)
cpu1, wall1 = cpu_ticks(idled), time.monotonic()
emit("scale.idled.cpu", (cpu1 - cpu0) / ticks_per_second / (wall1 - wall0) * 100)
note("scale.idled.cpu", f"over {wall1 - wall0:.0f} s")

for name in started:
    if name in stops:
        emit("scale.late", stops[name][0] - deadlines[name])
    else:
        fail("scale.late", f"{name} was not stopped within 3 min of the last deadline")
if stops:
    times = sorted(t for t, _ in stops.values())
    idle_reason = sum(1 for _, e in stops.values() if "idle" in (e.get("STUDIO_REASON", "") + e.get("MESSAGE", "")).lower())
    lates = sorted(stops[n][0] - deadlines[n] for n in stops)
    note("scale", f"{len(stops)} of {len(started)} stopped ({idle_reason} with an idle reason); stops spread over "
                  f"{times[-1] - times[0]:.1f} s (starts over {max(started.values()) - min(started.values()):.1f} s); "
                  f"after the deadline: min {lates[0]:.1f} s, median {statistics.median(lates):.1f} s, max {lates[-1]:.1f} s")
