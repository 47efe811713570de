"""A container workspace's start to a usable terminal, beside systemd-nspawn started by hand. Studio's side is timed
exactly as the host workspace's (probe_workspace.py, common.workspace_start_round): from the start request until the
shell inside has shown its prompt AND answered a typed `echo ready-$((40+2))` with `ready-42`.

  ct.studio.warm   `POST /api/v1/workspaces/W/start` (studiod → broker → systemd starts the unit, whose main process
                   `studio-sandbox container-run` makes the two idmapped mounts and becomes systemd-nspawn with the
                   workspace's layer over the image → the agent, PID 1 inside, ready), then the terminal's WebSocket
                   (studiod → broker relay → agent → a new pty and the owner's login shell inside); the broker running
  ct.studio.cold   the same with the broker (studio-sandbox.service) stopped first: its socket activation included
  ct.peer.pick     the issue's peer: `systemd-run --wait -P -q -p Delegate=yes systemd-nspawn -q -D IMAGE
                   --register=no --keep-unit --settings=no --link-journal=no --private-users=pick -- /bin/true`
                   (nspawn picks a free range and idmaps the image itself), until it has exited
  ct.peer.overlay  the same nspawn with what Studio's unit gives it for the image and the user range, in plain nspawn
                   options: `--overlay=IMAGE:UPPER:/ --private-users=BASE:65536 --private-users-ownership=off` (a
                   persistent upper of the probe's own, owned by BASE; the image is not idmapped, so root inside
                   could not write it: /bin/true does not)

The peers are started as the host workspace row's floor is: `systemd-run` from the probe as root (setpriv), a
transient unit, waited on. Each kind gets one untimed run first (Studio's is the workspace's first start, which
makes it, its range, its layer and its home).

usage: python3 probe_container.py ROUNDS WORKSPACE TEMPLATE IMAGE
"""
import os
import subprocess
import sys
import time

from common import USER, emit, fail, launcher, note, sh, stop_units, studio_login, studioctl_in, workspace_start_round

rounds, workspace, template, image = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
image_dir = f"/var/lib/machines/{image}"
PEER_BASE = 0x7000_0000 + 4093 * 0x10000   # the last of Studio's ranges: no workspace of this run gets it
upper = "/var/lib/studio-bench-nspawn/upper"

NSPAWN = ["systemd-run", "--wait", "-P", "-q", "-p", "Delegate=yes", "systemd-nspawn", "-q", "-D", image_dir,
          "--register=no", "--keep-unit", "--settings=no", "--link-journal=no"]
PEERS = {
    "ct.peer.pick": NSPAWN + ["--private-users=pick", "--", "/bin/true"],
    "ct.peer.overlay": NSPAWN + [f"--overlay={image_dir}:{upper}:/", f"--private-users={PEER_BASE}:65536",
                                 "--private-users-ownership=off", "--", "/bin/true"],
}


def image_owner():
    return os.stat(image_dir).st_uid, os.stat(f"{image_dir}/etc/passwd").st_uid


def peer_round(key):
    try:
        start = time.perf_counter()
        done = subprocess.run(launcher("root") + PEERS[key], capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise OSError(f"exit {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
        emit(key, elapsed * 1000)
    except OSError as e:
        fail(key, e)
        subprocess.run(["systemctl", "reset-failed"], check=False)


os.makedirs(upper, exist_ok=True)
os.chown(upper, PEER_BASE, PEER_BASE)
os.chmod(upper, 0o755)

# The workspace's first start (untimed): the row, its uid range, its layer and home, the owner in its passwd.
started = time.perf_counter()
studioctl_in(workspace, "start", workspace, "--template", template)
first = time.perf_counter() - started
unit = f"studio-ws-{USER}-{workspace}.service"
shown = sh("systemctl", "show", unit, "-P", "ExecStart").stdout
note("ct", f"first start (`studioctl start {workspace} --template {template}`, untimed): {first * 1000:.0f} ms; "
           f"image {image_dir}; the overlay peer's range {PEER_BASE}:65536, its upper {upper}")
if "container-run" not in shown:
    fail("ct.studio.warm", f"{unit} does not run container-run: {shown.strip()[:200]}")
    sys.exit(1)
studioctl_in(workspace, "stop", workspace)

for key in PEERS:   # one untimed run each, as the workspace's first start
    done = subprocess.run(launcher("root") + PEERS[key], capture_output=True, text=True)
    if done.returncode != 0:
        note(key, f"its untimed first run failed: exit {done.returncode}: {done.stderr.strip()[:300]}")
if image_owner() != (0, 0):
    # nspawn's `pick` maps the image itself; had it chowned the tree instead, Studio would refuse the image.
    fail("ct.peer.pick", f"the image {image_dir} is no longer root's after the peer: {image_owner()}")
    sys.exit(1)

_, cookie = studio_login()
for n in range(rounds):
    workspace_start_round("ct.studio.warm", cookie, workspace, f"t{n}")   # the broker is running: the stop before used it
    stop_units("studio-sandbox.service")
    workspace_start_round("ct.studio.cold", cookie, workspace, f"t{n}")
    peer_round("ct.peer.pick")
    peer_round("ct.peer.overlay")
if image_owner() != (0, 0):
    note("ct", f"the image {image_dir} was not root's after the run: {image_owner()}")
