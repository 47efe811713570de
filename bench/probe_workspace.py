"""A workspace's start to a usable terminal, beside a systemd unit with the same properties and a shell on a pty
(the floor). Each is timed from the first request until the shell has shown its prompt AND answered a typed command
(`echo ready-$((40+2))` → `ready-42`):

  ws.studio.warm   as the dashboard does it: `POST /api/v1/workspaces/W/start` (studiod → broker → systemd → the
                   agent ready), then the terminal's WebSocket (studiod → broker relay → agent → a new pty and the
                   user's login shell); the broker running
  ws.studio.cold   the same with the broker (studio-sandbox.service) stopped first: its socket activation included
  ws.floor         `systemd-run` (started with setpriv as root, as the probe's other commands) of `/bin/bash -l` on a
                   pty of the probe's own (StandardInput/Output/Error=tty, TTYPath=), with the properties of the
                   workspace's own unit: user, working directory, slice, the limits read from the running workspace
                   unit, the sandboxing of UnitSpecBuilder; read from the pty's master

usage: python3 probe_workspace.py ROUNDS WORKSPACE
"""
import os
import subprocess
import sys
import time

from common import (USER, MasterTerminal, emit, fail, launcher, note, open_pty, sh, stop_units, studio_login,
                    studioctl_in, wait_prompt, workspace_start_round)

rounds, workspace = int(sys.argv[1]), sys.argv[2]
unit = f"studio-ws-{USER}-{workspace}.service"
home = f"/home/{USER}"

# UnitSpecBuilder.sandboxing and .stringProperties (Sources/StudioSandbox/Workspaces/UnitSpecBuilder.swift).
SANDBOXING = ["PrivateTmp=yes", "ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectKernelLogs=yes",
              "ProtectControlGroups=yes", "ProtectClock=yes", "ProtectHostname=yes", "RestrictRealtime=yes",
              "LockPersonality=yes", "RestrictSUIDSGID=yes", "NoNewPrivileges=yes", "ProtectProc=invisible",
              "OOMPolicy=continue", "ProtectSystem=full"]


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


def floor_round(n, props, slice_):
    unit_name = f"bench-floor-{n}.service"
    master, slave = open_pty()
    tty = os.ttyname(slave)
    terminal = MasterTerminal(master)
    command = ["systemd-run", "--quiet", f"--unit={unit_name}", f"--slice={slice_}", f"--property=TTYPath={tty}",
               "--property=StandardInput=tty", "--property=StandardOutput=tty", "--property=StandardError=tty",
               "--setenv=TERM=xterm-256color"] + [f"--property={p}" for p in props + SANDBOXING] + ["/bin/bash", "-l"]
    try:
        start = time.perf_counter()
        done = subprocess.run(launcher("root") + command, capture_output=True, text=True)
        if done.returncode != 0:
            raise OSError(f"systemd-run: {done.stderr.strip()}")
        wait_prompt(terminal)
        emit("ws.floor", (time.perf_counter() - start) * 1000)
    except (EOFError, TimeoutError, OSError) as e:
        fail("ws.floor", e)
    finally:
        # An interactive bash ignores SIGTERM: systemctl stop would wait out TimeoutStopSec (untimed either way).
        subprocess.run(["systemctl", "kill", "--signal=SIGKILL", unit_name], stderr=subprocess.DEVNULL)
        stop_units(unit_name)
        os.close(slave)
        terminal.close()


studioctl_in(workspace, "start", workspace)
props, slice_ = unit_properties()
note("ws.floor", "properties: " + " ".join(props + SANDBOXING) + f"; slice {slice_}")
studioctl_in(workspace, "stop", workspace)
_, cookie = studio_login()
for n in range(rounds):
    workspace_start_round("ws.studio.warm", cookie, workspace, f"t{n}")   # the broker is running: the stop before used it
    stop_units("studio-sandbox.service")
    workspace_start_round("ws.studio.cold", cookie, workspace, f"t{n}")
    floor_round(n, props, slice_)
