"""Every unit's hardening, scored by `systemd-analyze security` in the booted machine, is no worse than the score
docs/security.md documents for it (the documented table is the contract; lower it there when a unit gets better)."""

import re
from pathlib import Path

import pytest

from machine import ALICE, Machine, ws_unit

SECURITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*(\d+\.\d)\s")


def documented() -> dict[str, float]:
    """unit (or `workspace`) -> the score docs/security.md gives it."""
    scores = {}
    for line in SECURITY_DOC.read_text().splitlines():
        m = ROW.match(line)
        if m:
            scores[m.group(1)] = float(m.group(2))
    return scores


def score(machine: Machine, unit: str) -> float:
    out = machine.run("systemd-analyze", "security", "--no-pager", unit).stdout
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", out)
    assert m, f"no overall exposure level for {unit} in:\n{out[-2000:]}"
    return float(m.group(1))


def test_the_doc_scores_every_unit():
    assert set(documented()) == {"studiod.service", "studio-sandbox.service", "studio-idled.service", "workspace", "container workspace"}, (
        f"docs/security.md's score table has {sorted(documented())}")


@pytest.mark.parametrize("unit", ["studiod.service", "studio-sandbox.service", "studio-idled.service", "workspace"])
def test_no_unit_scores_worse_than_documented(machine: Machine, proj, unit):
    name = ws_unit(ALICE, "proj") if unit == "workspace" else unit
    got, limit = score(machine, name), documented()[unit]
    assert got <= limit, f"{name}: systemd-analyze security scores {got}, worse than the documented {limit}"


def test_the_unprivileged_daemons_are_ok():
    """studiod faces the network and studio-idled reads every journal: both stay in systemd's "OK" band."""
    scores = documented()
    assert scores["studiod.service"] <= 2.0 and scores["studio-idled.service"] <= 2.0, scores
