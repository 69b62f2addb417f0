"""An idle node on PostgreSQL sleeps as one on SQLite does: nothing wakes it but its
periodic looks (compute's driver, every `compute_check_seconds`), and each look is one wake-up
of one query, not a dozen round trips to the database (docs/scale.md, "What runs once across
processes"). Counted as `bench/idle.py` counts: the served process's context switches."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from hameau.config import load_settings
from hameau.node.datadir import init_node
from tests.e2e.served import login_cookie, serve
from tests.helpers import PASSWORD, add_member
from tests.pg import name_in_settings

pytestmark = pytest.mark.e2e

LINUX = Path("/proc/self/status").exists()
CHECK = 5  # seconds between the driver's looks: 12 looks a minute instead of 1
LOOKS = 6  # looks counted (30 s)
PER_LOOK = 4  # switches a look may cost: woken, one round trip, asleep again, and margin


def _switches(pid: int) -> int:
    """Every thread's context switches (voluntary and not) since the process started."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:  # a thread that ended meanwhile
            continue
        for line in status.splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


@pytest.mark.skipif(not LINUX, reason="reads the server's context switches from /proc")
def test_an_idle_node_on_postgresql_wakes_only_for_its_looks(tmp_path: Path, pg_url: str) -> None:
    """Before: each look of compute's driver took three connections from the pool (a ping,
    BEGIN, the query and ROLLBACK each), about 13 switches a look; now one query on the
    driver's own connection. Looks every 5 s here, so that half a minute shows six of them."""
    root = tmp_path / "node"
    name_in_settings(root, pg_url)
    node = init_node(load_settings(root, {}), "Association du quartier")
    add_member(node, "alex")
    node.close()
    with serve(root, env={"HAMEAU_COMPUTE_CHECK_SECONDS": str(CHECK)}) as served:
        cookie = login_cookie(served.url, "alex", PASSWORD)
        home = urllib.request.Request(
            served.url + "/", headers={"Cookie": f"hameau_session={cookie}"}
        )
        with urllib.request.urlopen(home) as answer:
            assert answer.status == 200
        time.sleep(CHECK)  # the login's and the page's work settled
        before = _switches(served.process.pid)
        time.sleep(LOOKS * CHECK)
        woken = _switches(served.process.pid) - before
    # One look more than LOOKS may fall in the window; any other timer (a pool's
    # housekeeping, a reconnecting listener, a server's tick) would add its own.
    assert woken <= (LOOKS + 1) * PER_LOOK, f"{woken} context switches in {LOOKS} looks"
