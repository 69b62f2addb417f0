"""What a node lends (issue 15): the offer's defaults, what it accepts and why it refuses, hours
wrapping past midnight, and the page "What I lend" and `hameau compute offer` agreeing."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from hameau.compute import offers
from hameau.compute.sandbox import Limits
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, browser, log_in, post_form

MIB = 1 << 20
LENDING = replace(offers.DEFAULT, enabled=True, hours=(22, 7), memory_bytes=512 * MIB,
                  price_per_mfuel=5, max_fuel=10**9)  # fmt: skip
NIGHT = datetime(2026, 11, 30, 23, 30)  # naive: local time
NOON = datetime(2026, 11, 30, 12, 0)


def hameau(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hameau", "compute", "offer", *args,
                           "--data-dir", str(data_dir)],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=120)  # fmt: skip


def test_a_new_node_lends_nothing_until_an_admin_turns_it_on(node: Node) -> None:
    with transaction(node.sessions) as db:
        offer = offers.current(node, db)
    assert offer.enabled is False
    said = offers.accepts(offer, 64 * MIB, 10**6, 100, NIGHT)
    assert said == "This home server does not lend its compute now."


def test_a_job_within_the_offer_is_accepted_at_night_past_midnight() -> None:
    for hour in (22, 23, 0, 3, 6):
        assert offers.accepts(LENDING, 64 * MIB, 10**6, 5, NIGHT.replace(hour=hour)) is None
    for hour in (7, 12, 21):
        said = offers.accepts(LENDING, 64 * MIB, 10**6, 5, NIGHT.replace(hour=hour))
        assert said == "This home server lends its compute only from 22:00 to 07:00."
    # An aware time is taken in the node's local time.
    aware = NIGHT.astimezone(UTC)
    assert offers.accepts(LENDING, 64 * MIB, 10**6, 5, aware) is None
    day = replace(LENDING, hours=(9, 17))
    assert offers.accepts(day, 64 * MIB, 10**6, 5, NOON) is None
    assert offers.accepts(day, 64 * MIB, 10**6, 5, NOON.replace(hour=17)) is not None
    always = replace(LENDING, hours=(0, 24))
    assert all(offers.accepts(always, MIB, 1, 5, NOON.replace(hour=h)) is None for h in range(24))


def test_each_refusal_says_why_in_one_sentence() -> None:
    assert offers.accepts(LENDING, 1024 * MIB, 10**6, 5, NIGHT) == (
        "The job asks 1 GiB of memory; this home server lends at most 512 MiB."
    )
    assert offers.accepts(LENDING, 64 * MIB, 2 * 10**9, 5, NIGHT) == (
        "The job may burn 2,000,000,000 fuel; this home server takes at most 1,000,000,000 per job."
    )
    assert offers.accepts(LENDING, 64 * MIB, 10**6, 4, NIGHT) == (
        "This home server asks 5 cents of credit per million fuel, more than the 4 the job pays."
    )
    assert (
        offers.accepts(LENDING, 0, 10**6, 5, NIGHT) == "The job must ask some memory and some fuel."
    )
    # The job's memory cap here never passes what the offer lends, nor its fuel.
    assert offers.capped_memory(LENDING, 2048 * MIB) == 512 * MIB
    limits = offers.job_limits(LENDING, Limits(fuel=10**12, memory_bytes=2048 * MIB))
    assert (limits.memory_bytes, limits.fuel) == (512 * MIB, 10**9)
    small = Limits(fuel=10**6, memory_bytes=64 * MIB, wall_seconds=5)
    assert offers.job_limits(LENDING, small) == small


def test_the_page_and_the_command_line_show_and_change_the_same_offer(node: Node) -> None:
    add_member(node, "camille", admin=True)
    add_member(node, "alex")
    client = browser(node)
    log_in(client, "camille")
    page = client.get("/compute/offer", headers={"Accept-Language": "fr"})
    assert page.status_code == 200
    assert "Ce que je prête" in page.text and "Le prêt est arrêté" in page.text
    done = post_form(client, "/compute/offer", "/compute/offer", lending="on", cores="2",
                     memory="1G", start="22", end="7", price="0,05", max_fuel="5000000")  # fmt: skip
    assert done.status_code == 303
    shown = hameau(node.settings.data_dir)
    assert shown.returncode == 0, shown.stderr
    assert "Lending: on" in shown.stdout and "Cores: 2" in shown.stdout
    assert "Memory per job: 1 GiB" in shown.stdout and "22:00 to 07:00" in shown.stdout
    assert "0.05 € of credit per million fuel" in shown.stdout
    assert "Most fuel per job: 5,000,000" in shown.stdout
    changed = hameau(node.settings.data_dir, "--disable", "--memory", "256M", "--hours", "0-24",
                     "--price", "0", "--max-fuel", "2000000")  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert "Lending: off" in changed.stdout and "always" in changed.stdout
    page = client.get("/compute/offer", headers={"Accept-Language": "fr"})
    assert 'value="256M"' in page.text and 'value="2000000"' in page.text
    assert 'name="lending" value="on" checked' not in page.text
    with transaction(node.sessions) as db:
        offer = offers.current(node, db)
    assert (offer.enabled, offer.hours, offer.price_per_mfuel) == (False, (0, 24), 0)
    # A member who is not an admin neither sees nor changes it.
    member = browser(node)
    log_in(member, "alex")
    assert member.get("/compute/offer").status_code == 403


def test_bad_input_is_refused_with_one_sentence_and_nothing_changes(node: Node) -> None:
    add_member(node, "camille", admin=True)
    client = browser(node)
    log_in(client, "camille")
    for fields in ({"memory": "lots"}, {"start": "5", "end": "5"}, {"price": "-1"},
                   {"cores": "0"}, {"max_fuel": "many"}):  # fmt: skip
        form = {"lending": "on", "cores": "1", "memory": "512M", "start": "0", "end": "24",
                "price": "0.01", "max_fuel": "1000000", **fields}  # fmt: skip
        refused = post_form(client, "/compute/offer", "/compute/offer", **form)
        assert refused.status_code == 400, fields
        assert 'role="alert"' in refused.text
    with transaction(node.sessions) as db:
        assert offers.current(node, db) == offers.DEFAULT
    # Without the page's CSRF token, nothing is taken.
    assert client.post("/compute/offer", data={"cores": "1"}).status_code == 403
    for args in (("--memory", "12X"), ("--hours", "5-5"), ("--price", "abc"), ("--cores", "0")):
        failed = hameau(node.settings.data_dir, *args)
        assert failed.returncode != 0, args
        assert failed.stderr.strip().count("\n") == 0 and failed.stderr.strip(), failed.stderr


def test_no_more_jobs_run_at_once_than_the_cores_lent(tmp_path: Path) -> None:
    """The CPU cap: a node lending one core takes no second job while one runs here (the
    count of running jobs is the supervisor's, idle.OWN)."""
    from hameau.compute import idle, provider
    from tests.helpers import make_node

    node = make_node(tmp_path / "node", compute_idle_load=1000.0)  # idle whatever the load
    job = object()
    try:
        with transaction(node.sessions) as db:
            offers.save(node, db, replace(LENDING, hours=(0, 24), cores=1))
        with transaction(node.sessions) as db:
            assert provider.offer_answer(node, db, 64 * MIB, 10**6, 5)["accepts"]
        idle.OWN.running(job)
        with transaction(node.sessions) as db:
            said = provider.offer_answer(node, db, 64 * MIB, 10**6, 5)
        assert not said["accepts"]
        assert said["reason"] == "every core it lends is busy with other jobs"
    finally:
        idle.OWN.ended(job)
        node.close()
