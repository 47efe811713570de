"""Container images: the admin builds one with `studioctl image build` (debootstrap, as root), everyone lists them
with `studioctl images` (through the broker: /var/lib/machines is root's alone). A refused or failed build leaves
nothing in /var/lib/machines; a tree made by hand is an image as well; what is wrong with a tree is said.

The real build is the session fixture `built_image` (conftest.py), which the container tests reuse."""

from __future__ import annotations

import json

import pytest

from conftest import IMAGES
from machine import ALICE, Machine, explain

USAGE, UNAVAILABLE, SOFTWARE, CANT_CREATE, NO_PERMISSION = 64, 69, 70, 73, 77  # sysexits, studioctl(1)
DEBIAN_12 = "Debian GNU/Linux 12 (bookworm)"


def entries(machine: Machine) -> list[str]:
    """What is in /var/lib/machines, hidden entries too (nothing when it does not exist yet)."""
    return sorted(machine.sh(f"ls -A {IMAGES} 2>/dev/null || true").stdout.split())


def images(machine: Machine, user: str = ALICE) -> dict[str, dict]:
    p = machine.studioctl(user, "images", "--json")
    assert p.returncode == 0, explain(p)
    return {image["name"]: image for image in json.loads(p.stdout)["images"]}


def mounts_below(machine: Machine, path: str) -> list[str]:
    out = machine.run("findmnt", "-rn", "-o", "TARGET").stdout
    return [m for m in out.splitlines() if m == path or m.startswith(path + "/")]


def test_building_an_image_needs_root(machine: Machine, users):
    before = entries(machine)
    p = machine.studioctl(ALICE, "image", "build", "mine", "--packages", "git")
    assert p.returncode == NO_PERMISSION, explain(p)
    assert p.stderr.strip() == "studioctl: building an image needs root: run `sudo studioctl image build mine --packages git`", explain(p)
    assert entries(machine) == before


@pytest.mark.parametrize(
    "args, says",
    [
        (["bad", "--packages", "git,Bad_Pkg"], "--packages: Bad_Pkg is not a Debian package name"),
        (["bad", "--suite", "../../etc"], "--suite ../../etc is not a Debian suite"),
        (["bad", "--mirror", "file:///srv/mirror"], "--mirror file:///srv/mirror is not a mirror URL"),
        (["bad", "--variant", "fakechroot"], "--variant fakechroot is not one of debootstrap's variants here: minbase, buildd"),
        (["../bad"], '"../bad" is not a valid image name'),
    ],
    ids=["package", "suite", "mirror", "variant", "name"],
)
def test_bad_input_is_refused_before_anything_is_made(machine: Machine, args, says):
    before = entries(machine)
    p = machine.studioctl("root", "image", "build", *args)
    assert p.returncode == USAGE, explain(p)
    assert p.stderr.startswith(f"studioctl: {says}"), explain(p)
    assert "debootstrap" not in p.stdout, f"debootstrap must not have run:\n{explain(p)}"
    assert entries(machine) == before, "a refused build left something in /var/lib/machines"


def test_a_build_makes_a_usable_image_everyone_can_list(machine: Machine, users, built_image):
    p = built_image["build"]
    assert p.returncode == 0, explain(p)
    assert f"built {IMAGES}/built: " in p.stdout, explain(p)
    # The root of the tree is 0755 (mkdtemp made it 0700, which shuts everyone inside out of everything), root's.
    assert machine.run("stat", "-c", "%a %U:%G %F", built_image["path"]).stdout.split(maxsplit=2) == ["755", "root:root", "directory\n"]
    assert machine.run("stat", "-c", "%a %U", IMAGES).stdout.split() == ["700", "root"]
    assert not [e for e in entries(machine) if e.startswith(".built.build-")], entries(machine)
    assert mounts_below(machine, built_image["path"]) == [], "debootstrap's mounts must be gone"
    assert machine.exists(f"{built_image['path']}/bin/sh") and machine.exists(f"{built_image['path']}/etc/os-release")

    image = images(machine)["built"]
    assert image["usable"] is True, image
    assert image["os"] == DEBIAN_12, image
    assert image.get("problem") is None, image
    assert image["path"] == f"{IMAGES}/built"
    assert image["modifiedAt"] > 0

    table = machine.studioctl(ALICE, "images")
    assert table.returncode == 0, explain(table)
    assert table.stdout.splitlines()[0].split() == ["NAME", "OS", "USABLE", "TEMPLATES"], explain(table)
    row = next(line for line in table.stdout.splitlines() if line.startswith("built "))
    assert DEBIAN_12 in row and " yes " in row, row


def test_building_over_an_existing_image_is_refused(machine: Machine, built_image):
    before = machine.run("stat", "-c", "%i %Y", built_image["path"]).stdout
    listing = entries(machine)
    p = machine.studioctl("root", "image", "build", "built")
    assert p.returncode == CANT_CREATE, explain(p)
    assert p.stderr.strip() == (
        f"studioctl: {IMAGES}/built exists already: remove it with `machinectl remove built` or pick another name"
    ), explain(p)
    assert machine.run("stat", "-c", "%i %Y", built_image["path"]).stdout == before, "the image was touched"
    assert entries(machine) == listing


def test_a_tree_made_by_hand_is_an_image_too(machine: Machine, hand_image):
    image = images(machine)["byhand"]
    assert image["usable"] is True, image
    assert image["os"] == DEBIAN_12, image
    assert image["path"] == hand_image["path"]


def test_the_templates_that_name_an_image_are_listed(machine: Machine, users, hand_image):
    path = "/etc/studio/templates/img88.conf"
    machine.write_file(path, "[Template]\nDescription=images test\nBackend=container\nImage=byhand\n")
    try:
        listed = images(machine)
        assert listed["byhand"]["templates"] == ["img88"], listed["byhand"]
        assert "img88" not in listed["built"]["templates"], listed["built"]
    finally:
        machine.run("rm", "-f", path)


def test_what_is_wrong_with_a_tree_is_said_and_builds_under_way_are_not_listed(machine: Machine, users, built_image):
    made = [f"{IMAGES}/notatree", f"{IMAGES}/.half.build-123456", f"{IMAGES}/disk.raw"]
    machine.sh(f"mkdir -p {IMAGES}/notatree/etc {IMAGES}/.half.build-123456/etc && head -c 4096 /dev/zero > {IMAGES}/disk.raw")
    try:
        listed = images(machine)
        assert listed["notatree"]["usable"] is False
        assert listed["notatree"]["problem"] == "has no os-release: not an OS tree", listed["notatree"]
        assert listed["disk"]["problem"] == "is a disk image; only directory trees are supported", listed["disk"]
        assert not [name for name in listed if "half" in name], sorted(listed)
        row = next(line for line in machine.studioctl(ALICE, "images").stdout.splitlines() if line.startswith("notatree "))
        assert "no: has no os-release: not an OS tree" in row, row
    finally:
        machine.run("rm", "-rf", "--one-file-system", "--", *made)


def test_an_interrupted_build_leaves_nothing_behind(machine: Machine, users, built_image):
    """Ctrl-C in the middle of debootstrap (once it has mounted /proc in the new tree, if it gets that far within
    two minutes): studioctl stops debootstrap, unmounts what it left, removes the tree and exits 70."""
    script = f"""
        studioctl image build intr >/tmp/intr.log 2>&1 &
        pid=$!
        for i in $(seq 1 1200); do
            for d in {IMAGES}/.intr.build-*; do [ -e "$d/proc/self" ] && break 2; done
            kill -0 $pid 2>/dev/null || break
            sleep 0.1
        done
        kill -INT $pid
        wait $pid
        echo "rc=$?"
    """
    p = machine.sh(script, timeout=300, check=False)
    log = machine.run("cat", "/tmp/intr.log", check=False).stdout
    assert p.stdout.strip().endswith(f"rc={SOFTWARE}"), f"{explain(p)}\n--- studioctl's output ---\n{log}"
    assert "studioctl: interrupted; debootstrap stopped" in log, log
    assert not [e for e in entries(machine) if "intr" in e], entries(machine)
    assert mounts_below(machine, IMAGES) == [], "nothing may stay mounted in /var/lib/machines"
