"""The hamlet's ledger across three homes served as processes: A opened it (its notary), B
and C keep replicas. A payment by a member of B is sequenced by A and reaches C; every home
verifies the same ledger; a home that was stopped catches up; a peer whose database was
damaged on disk is refused."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hameau.node.layout import Layout
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.e2e.served import login_cookie

PAIRS = (("B", "A"), ("C", "A"), ("C", "B"))


def _ok(home: Home, *args: str) -> str:
    done = home.run("ledger", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _refused(home: Home, *args: str) -> str:
    done = home.run("ledger", *args)
    assert done.returncode != 0, done.stdout
    said = done.stderr.strip()
    assert len(said.splitlines()) == 1, said
    return said


def _members(homes: dict[str, Home]) -> dict[str, str]:
    """alex at A (an admin), bea at B, cam at C; their generated passwords."""
    passwords = {}
    for name, member in (("A", "alex"), ("B", "bea"), ("C", "cam"))[: len(homes)]:
        added = homes[name].run("member", "add", member, *(("--admin",) if name == "A" else ()))
        assert added.returncode == 0, added.stderr
        passwords[member] = re.search(r"Password: (\S+)", added.stdout).group(1)  # type: ignore[union-attr]
    return passwords


def _pay_on_the_page(home: Home, name: str, password: str, to: str, amount: str) -> None:
    """The member pays through the credit page's form, as a browser posts it."""
    cookie = login_cookie(home.url, name, password, verify=home.verify)
    cookies = {"hameau_session": cookie}
    with httpx.Client(base_url=home.url, verify=home.verify, cookies=cookies) as web:
        page = web.get("/credit")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        # The recipient as the page offers it (a member of another home: their account).
        offered = re.search(rf'<option value="([^"]+)"[^>]*>[^<]*\b{to}\b', page.text)
        assert offered is not None, f"{to} is not among the page's recipients"
        form = {"to": offered.group(1), "amount": amount, "memo": "page", "csrf_token": token}
        paid = web.post("/credit/transfer", data=form)
    assert paid.status_code == 303 and "done=paid" in paid.headers["location"], paid.text


def _start(homes: dict[str, Home]) -> None:
    """A opens the ledger; bea (at B) opens her account through A; A issues her 10 €."""
    _ok(homes["A"], "issue", "alex", "20")
    _ok(homes["B"], "sync")
    _ok(homes["B"], "balance", "bea")
    _ok(homes["A"], "issue", "bea", "10")


def test_a_payment_at_b_reaches_a_and_c_and_verifies_everywhere(tmp_path: Path) -> None:
    with hamlet(tmp_path, names=("A", "B", "C"), pairs=PAIRS) as homes:
        passwords = _members(homes)
        _start(homes)
        said = _ok(homes["B"], "transfer", "bea", "alex", "2,50", "--memo", "eggs")
        assert "2,50" in said
        assert "22,50" in _ok(homes["A"], "balance", "alex")
        _ok(homes["C"], "sync")
        assert "22,50" in _ok(homes["C"], "balance", "alex")
        assert "7,50" in _ok(homes["C"], "balance", "bea")
        assert "eggs" in _ok(homes["C"], "history", "bea")
        for home in homes.values():
            assert "sound" in _ok(home, "verify")
        # A payment beyond bea's credit: A refuses it, B says why, nothing moves.
        said = _refused(homes["B"], "transfer", "bea", "alex", "50")
        assert "cr\u00e9dit" in said.lower() or "credit" in said.lower()
        assert "7,50" in _ok(homes["B"], "balance", "bea")
        # bea pays alex on B's credit page: the same path through the notary.
        _pay_on_the_page(homes["B"], "bea", passwords["bea"], "alex", "1")
        assert "23,50" in _ok(homes["A"], "balance", "alex")
        assert "6,50" in _ok(homes["C"], "balance", "bea")


def _damage_last_transfer(home: Home) -> None:
    """The last transfer's amount rewritten in the journal of `home`'s database, on disk."""
    with sqlite3.connect(Layout(home.data_dir).database) as db:
        seq = db.execute("SELECT max(seq) FROM ledger_entries WHERE kind = 'transfer'").fetchone()
        db.execute(
            "UPDATE ledger_entries SET entry = replace(entry, '\"cents\":50,', '\"cents\":5,')"
            " WHERE seq = ?",
            seq,
        )


def test_a_stopped_home_catches_up_and_a_damaged_peer_is_refused(tmp_path: Path) -> None:
    with hamlet(tmp_path, names=("A", "B", "C"), pairs=PAIRS) as homes:
        _members(homes)
        _start(homes)
        assert "at position 5" in _ok(homes["C"], "sync")  # C had most by nudges
        homes["C"].served.process.terminate()  # C is away while B's member pays
        homes["C"].served.process.wait(timeout=15)
        for amount in ("1", "1,25", "0,50"):
            _ok(homes["B"], "transfer", "bea", "alex", amount)
        homes["C"].restart()
        _damage_last_transfer(homes["B"])
        said = _refused(homes["C"], "sync", "B")
        assert "does not verify" in said and "position 8" in said and "tampered" in said
        assert "1 new positions" in _ok(homes["C"], "sync")  # from the notary, A
        assert "7,25" in _ok(homes["C"], "balance", "bea")
        assert "sound" in _ok(homes["C"], "verify")
        assert "position 8" in _refused(homes["B"], "verify")


def test_a_notary_killed_mid_append_loses_nothing_half_written(tmp_path: Path) -> None:
    with hamlet(tmp_path, names=("A", "B"), pairs=(("B", "A"),)) as homes:
        _members(homes)
        _start(homes)
        paying = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hameau",
                    "ledger",
                    "transfer",
                    "bea",
                    "alex",
                    "0,10",
                    "--data-dir",
                    str(homes["B"].data_dir),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        time.sleep(1.0)  # let some reach A; no timing is asserted on
        homes["A"].served.process.send_signal(signal.SIGKILL)
        homes["A"].served.process.wait(timeout=15)
        done = [p.wait(timeout=120) == 0 for p in paying]
        assert "sound" in _ok(homes["A"], "verify")  # nothing half-written at the notary
        homes["A"].restart()
        _ok(homes["B"], "transfer", "bea", "alex", "1")  # sequencing goes on
        assert "sound" in _ok(homes["B"], "verify")
        # Every transfer that said it was done is on both ledgers, the same there.
        assert _ok(homes["A"], "balance", "bea") == _ok(homes["B"], "balance", "bea")
        # (one A sealed as it was killed may be there too, though its sender saw no answer)
        assert _ok(homes["B"], "history", "bea").count("transfer") >= sum(done) + 1
