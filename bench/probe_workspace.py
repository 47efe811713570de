"""A workspace's start to a usable terminal, beside systemd-run with the same properties (the floor).

Both sides run under a pty of ours, started the same way (setpriv, then `sh -c`), and are timed from the start of the
command until the shell has shown its prompt AND answered a typed command (`echo ready-$((40+2))` → `ready-42`):

  ws.studio.warm   `studioctl start W && studioctl shell W` as the user, the broker running
  ws.studio.cold   the same with the broker (studio-sandbox.service) stopped first: socket activation included
  ws.floor         `systemd-run --pty` as root of the user's login shell, with the properties of the workspace's own
                   unit (user, working directory, slice, the limits read from the running unit, the sandboxing of
                   UnitSpecBuilder): what systemd itself takes to start such a unit with a shell on a pty

usage: python3 probe_workspace.py ROUNDS WORKSPACE
"""
import subprocess
import sys
import time

from common import USER, PtyTerminal, emit, fail, launcher, note, sh, stop_units, wait_prompt

rounds, workspace = int(sys.argv[1]), sys.argv[2]
unit = f"studio-ws-{USER}-{workspace}.service"
home = f"/home/{USER}"

# UnitSpecBuilder.sandboxing and .stringProperties (Sources/StudioSandbox/Workspaces/UnitSpecBuilder.swift).
SANDBOXING = ["PrivateTmp=yes", "ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectKernelLogs=yes",
              "ProtectControlGroups=yes", "ProtectClock=yes", "ProtectHostname=yes", "RestrictRealtime=yes",
              "LockPersonality=yes", "RestrictSUIDSGID=yes", "NoNewPrivileges=yes", "ProtectProc=invisible",
              "OOMPolicy=continue", "ProtectSystem=full"]


def studioctl(*args):
    subprocess.run(launcher(USER) + ["sh", "-c", f'cd "$HOME/{workspace}" && exec studioctl "$@"', "sh", *args],
                   check=True, stdout=subprocess.DEVNULL)


def unit_properties():
    """The limits and placement systemd shows for the running workspace unit, as systemd-run properties."""
    names = ["MemoryMax", "MemoryHigh", "CPUQuotaPerSecUSec", "TasksMax", "CPUWeight", "IOWeight", "Slice",
             "WorkingDirectory", "User"]
    shown = dict(line.split("=", 1) for line in sh("systemctl", "show", unit, *[f"-p{n}" for n in names]).stdout.split("\n") if "=" in line)
    props = []
    for name in ("MemoryMax", "MemoryHigh", "TasksMax", "CPUWeight", "IOWeight", "WorkingDirectory", "User"):
        value = shown.get(name, "")
        if value and value not in ("infinity", "[not set]"):
            props.append(f"{name}={value}")
    quota = shown.get("CPUQuotaPerSecUSec", "infinity")
    if quota != "infinity":
        seconds = float(quota[:-2]) / 1000 if quota.endswith("ms") else float(quota.rstrip("s"))
        props.append(f"CPUQuota={seconds * 100:.0f}%")
    return props, shown.get("Slice")


def to_usable(key, argv, stop):
    start = time.perf_counter()
    terminal = PtyTerminal(argv)
    try:
        wait_prompt(terminal)
        emit(key, (time.perf_counter() - start) * 1000)
    except (EOFError, TimeoutError, OSError) as e:
        fail(key, e)
    finally:
        terminal.close()
        stop()


studioctl("start", workspace)
props, slice_ = unit_properties()
note("ws.floor", "properties: " + " ".join(props + SANDBOXING) + f" slice {slice_}")
studioctl("stop", workspace)

studio_argv = launcher(USER) + ["sh", "-c", f'cd "$HOME/{workspace}" && studioctl start {workspace} >/dev/null && exec studioctl shell {workspace}']
for n in range(rounds):
    # warm: the broker is running (the previous stop used it)
    to_usable("ws.studio.warm", studio_argv, lambda: studioctl("stop", workspace))
    stop_units("studio-sandbox.service")
    to_usable("ws.studio.cold", studio_argv, lambda: studioctl("stop", workspace))
    floor = f"bench-floor-{n}.service"
    command = ["systemd-run", "--quiet", "--pty", f"--unit={floor}", f"--slice={slice_}"] + \
              [f"--property={p}" for p in props + SANDBOXING] + ["/bin/bash", "-l"]
    to_usable("ws.floor", launcher("root") + ["sh", "-c", 'exec "$@"', "sh"] + command, lambda: stop_units(floor))
