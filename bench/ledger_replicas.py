"""Replication lag across three homes served as processes: A the notary, B and C replicas.
A member of B pays (`hameau ledger transfer` at B: signed there, sequenced by A over the
signed channel); the lag is the time from launching that command to the position's presence
in C's database (C learns it by A's nudge and pulls it), beside the command's own time. One
JSON line.

With `--notaries 3`, A, B and C are all paired and all notaries: B proposes its member's
payment and A or C co-signs it; `final_at_b_ms` is the time from launching B's command to the
position stored at B, which happens only once two of the three notaries signed it (time to
finality). With one notary, it is the time until B pulled the position back from A.

    .venv/bin/python bench/ledger_replicas.py [--payments 10] [--notaries 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT  # noqa: F401  (puts the repository on the path)

from hameau.node.layout import Layout
from tests.e2e.hamlet_nodes import Home, hamlet


def _head(home: Home) -> int:
    uri = f"file:{Layout(home.data_dir).database}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        return int(db.execute("SELECT coalesce(max(seq), 0) FROM ledger_entries").fetchone()[0])


def _run(home: Home, *args: str) -> str:
    done = home.run("ledger", *args)
    if done.returncode != 0:
        sys.exit(done.stderr)
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=10)
    parser.add_argument("--notaries", type=int, choices=(1, 3), default=1)
    given = parser.parse_args()
    finals: list[float] = []  # from launching B's command to the position final at B
    lags: list[float] = []  # from launching B's command to the position in C's database
    commands: list[float] = []  # B's whole command (a Python start, sign, sequence, pull)
    with tempfile.TemporaryDirectory() as root:
        pairs = (("B", "A"), ("C", "A"), ("C", "B"))[: 2 if given.notaries == 1 else 3]
        with hamlet(Path(root), names=("A", "B", "C"), pairs=pairs) as homes:
            for name, member in (("A", "alex"), ("B", "bea")):
                homes[name].run("member", "add", member)
            _run(homes["A"], "issue", "alex", "1")
            _run(homes["B"], "balance", "bea")
            _run(homes["A"], "issue", "bea", "100")
            if given.notaries == 3:
                _run(homes["A"], "notaries", "A", "B", "C")
                for name in ("B", "C"):
                    _run(homes[name], "sync")
            for _ in range(given.payments):
                wanted, started = _head(homes["B"]) + 1, time.monotonic()
                paying = subprocess.Popen(
                    [sys.executable, "-m", "hameau", "ledger", "transfer", "bea", "alex",
                     "0,01", "--data-dir", str(homes["B"].data_dir)],
                    stdout=subprocess.DEVNULL,
                )  # fmt: skip
                while _head(homes["B"]) < wanted:
                    time.sleep(0.005)
                finals.append(time.monotonic() - started)
                while _head(homes["C"]) < wanted:
                    time.sleep(0.005)
                lags.append(time.monotonic() - started)
                paying.wait(timeout=60)
                commands.append(time.monotonic() - started)
    print(json.dumps({
        "bench": "ledger_replication_lag", "payments": given.payments,
        "notaries": given.notaries,
        "final_at_b_ms_median": round(statistics.median(finals) * 1000, 1),
        "at_c_ms_median": round(statistics.median(lags) * 1000, 1),
        "at_c_ms_max": round(max(lags) * 1000, 1),
        "command_at_b_ms_median": round(statistics.median(commands) * 1000, 1),
        "load": os.getloadavg()[0],
    }))  # fmt: skip


if __name__ == "__main__":
    main()
