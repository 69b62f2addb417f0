"""The energy of serving a satellite's sync: the home node counts the CPU time of each sync
request it serves, per member and day, and the footprint report gives it in kWh with its
source, for the household and for the member who synced (not for another member)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hameau.accounts import members
from hameau.footprint import meter, service
from hameau.footprint.service import WINDOW
from hameau.node.db import transaction, utcnow
from tests.footprint.test_machine import fake_proc
from tests.travel.sides import home_node, pack, write


def _sync(report: service.Report) -> Any:
    return dict(report.apps)["sync"]


def test_a_satellite_s_sync_is_counted_for_its_member_in_kwh(tmp_path: Path) -> None:
    home = home_node(tmp_path / "home")
    for n in range(20):
        write(home, f"Voyage/{n}.txt", f"page {n}".encode() * 200)
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])  # packs, then syncs once
    write(pair.sat, "Voyage/new.txt", b"made away")
    assert pair.sync().complete
    # A /proc that stands still: the power estimated from this machine's CPU use since boot
    # would move between two reports.
    proc = fake_proc(tmp_path, "processor\t: 0\nmodel name\t: AMD EPYC\n")
    with transaction(home.sessions) as db:
        alex = members.find_member(db, "alex").id
        sam = members.find_member(db, "sam").id
        report = service.build(home, db, proc=proc)
        household = _sync(report)
        mine = _sync(service.build(home, db, alex, proc=proc))
        theirs = _sync(service.build(home, db, sam, proc=proc))
    # Every request of both syncs was served and counted (changes, states, missing, upload,
    # apply, notes): a positive energy, estimated, saying how it was reached.
    assert household.label == "estimated" and household.unit == "kWh"
    assert household.value > 0
    assert "CPU time serving" in household.source and "power shared over its" in household.source
    requests = int(household.source.split("serving ", 1)[1].split(" ", 1)[0])
    assert requests >= 4
    # The node's power per CPU gives the kWh of the CPU seconds counted (÷ 3.6 MJ per kWh).
    with transaction(home.sessions) as db:
        seconds = sum(s for _, s in meter.by_member(db, "sync", utcnow() - WINDOW).values())
    watts = report.power.per_cpu.value
    assert household.value == pytest.approx(seconds * watts / 3.6e6, rel=0.01)
    # All of it is alex's; sam synced nothing.
    assert mine.value == household.value and mine.source == household.source
    assert theirs.value == 0 and "serving 0 sync requests" in theirs.source
