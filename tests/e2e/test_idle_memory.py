"""A served node's memory at rest: it stays where it is after people log in again and again,
and what no page asked for is not loaded (see docs/benchmarks.md, "Idle")."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.served import free_port, login_cookie, serve, wait_until_up
from tests.helpers import PASSWORD, add_member, make_node

pytestmark = pytest.mark.e2e

LINUX = Path("/proc/self/status").exists()


def _resident_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def _home(url: str, name: str, *pages: str) -> None:
    """Log in, then the home page and `pages`, each answered 200."""
    cookie = login_cookie(url, name, PASSWORD)
    for page in ("/", *pages):
        request = urllib.request.Request(url + page, headers={"Cookie": f"hameau_session={cookie}"})
        with urllib.request.urlopen(request) as answer:
            assert answer.status == 200, page


@pytest.mark.skipif(not LINUX, reason="reads the server's memory from /proc (Linux only)")
def test_logging_in_again_and_again_leaves_the_memory_where_it_was(tmp_path: Path) -> None:
    """Each login hashes with Argon2 (19 MiB); that memory goes back once the login is done,
    not only the first time (before: +19 MB for good from the second login on)."""
    node = make_node(tmp_path / "n")
    for name in ("alex", "sam"):
        add_member(node, name)
    node.close()
    with serve(tmp_path / "n") as served:
        _home(served.url, "alex")
        after_one = _resident_mb(served.process.pid)
        for name in ("sam", "alex", "sam", "alex"):
            _home(served.url, name)
        assert _resident_mb(served.process.pid) - after_one < 8


# `hameau serve` as `python -m hameau` runs it, writing the modules it loaded at exit.
RUN = (
    "import atexit, sys; out = sys.argv.pop(); atexit.register(lambda: open(out, 'w').write("
    "'\\n'.join(n for n, m in sys.modules.items() if m is not None)))\n"
    "from hameau.__main__ import main; sys.exit(main())"
)


def _served_modules(tmp_path: Path, *pages: str, log_in: bool = True) -> set[str]:
    """The modules a served node had loaded when it stopped, after a login, the home page
    and `pages` (each answered 200); without `log_in`, after its `/healthz` only."""
    node = make_node(tmp_path / "n")
    add_member(node, "alex")
    node.close()
    port, listing, log = free_port(), tmp_path / "modules.txt", tmp_path / "serve.log"
    args = ["serve", "--data-dir", str(tmp_path / "n"), "--port", str(port), str(listing)]
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", RUN, *args], stdout=output, stderr=subprocess.STDOUT,
            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, log)
        if log_in:
            _home(url, "alex", *pages)
    finally:
        # SIGINT: uvicorn stops, then raises it again as KeyboardInterrupt, so atexit runs
        # (SIGTERM, raised again, would end the process before it).
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
    return set(listing.read_text().splitlines())


# Each part's pages and APIs, loaded on the first request under its paths (hameau/parts.py).
PARTS_PAGES = (
    "hameau.files.views", "hameau.files.api", "hameau.files.previews", "hameau.files.space",
    "hameau.notes.views", "hameau.messages.views", "hameau.travel.api_notes",
    "hameau.ai.api", "hameau.ai.lending_views", "hameau.hamlet.pages", "hameau.hamlet.terminal",
    "hameau.ai.views", "hameau.calendar.views", "hameau.travel.views", "hameau.travel.api",
    "hameau.accounts.api", "hameau.footprint.views", "hameau.footprint.service",
    "hameau.moving.views", "hameau.moving.api", "hameau.backup.views",
    "hameau.hamlet.api", "hameau.hamlet.visit_views", "hameau.accounts.views",
    "hameau.accounts.admin",
    "hameau.ledger.views",
)  # fmt: skip


def test_a_node_at_rest_has_not_loaded_what_no_page_used(tmp_path: Path) -> None:
    loaded = _served_modules(tmp_path)
    # A database it does not run on, metrics nobody scraped, models FastAPI only refuses,
    # and the AI engine's build.
    unused = ("sqlalchemy.dialects.postgresql", "prometheus_client", "tarfile")
    # The hamlet, which nobody used: its client to peers (httpx, and rich through httpx._main),
    # signatures and keys (cryptography: the node's key is read when something signs), the
    # visits' provider (Authlib, joserfc), mDNS (not announcing on loopback) and the
    # invitation's QR code.
    unused += (
        "httpx", "rich", "http_message_signatures", "cryptography", "authlib", "joserfc",
        "zeroconf", "segno", "hameau.hamlet.signer", "hameau.hamlet.provider",
    )  # fmt: skip
    # The escrow on an EVM chain, chosen by no setting here (ledger_escrow = "embedded").
    unused += ("hameau.ledger.evm", "eth_tester", "eth", "eth_abi", "eth_account", "vyper")
    # The pages of the parts nobody opened: the home page shows their tiles only.
    unused += PARTS_PAGES
    # Babel (the catalogues are read by the standard library's gettext) and the XML parser
    # (the first WebDAV or CalDAV body loads it).
    unused += ("babel", "pytz", "xml.parsers.expat")
    # What the parts' timers and start-up state only use when they fire or a page asks: a
    # move's protocol (the home page's proposal counts visits with the tables alone), the
    # files' service and check (the weekly scrub's timer, travel's proofs, the rollback
    # window's timer), the search index, the hamlet's client to peers.
    unused += (
        "hameau.moving.service", "hameau.moving.transfer", "hameau.moving.steps",
        "hameau.files.service", "hameau.files.check", "hameau.files.purge", "hameau.search.index",
        "hameau.hamlet.client",
    )  # fmt: skip
    assert sorted(loaded & set(unused)) == []
    assert "hameau.web.home" in loaded  # the listing is the server's own


def test_a_node_nobody_visited_has_loaded_no_page_machinery(tmp_path: Path) -> None:
    """Started and asked `/healthz` only: the templates (Jinja2), the password hashing
    (Argon2) and the home page's proposal to move wait for the first page."""
    loaded = _served_modules(tmp_path, log_in=False)
    unused = ("jinja2", "argon2", "hameau.moving.proposal")
    assert sorted(loaded & set(unused)) == []
    assert "hameau.web.templating" in loaded  # the listing is the server's own


def test_a_part_is_served_on_its_first_request(tmp_path: Path) -> None:
    """The notes' page answers the first time it is asked, and only the notes' pages load."""
    loaded = _served_modules(tmp_path, "/notes", "/api/notes")
    assert {"hameau.notes.views", "hameau.notes.service"} <= loaded
    assert sorted(loaded & set(PARTS_PAGES)) == ["hameau.notes.views"]


def test_metrics_still_count_each_request_once_scraped(tmp_path: Path) -> None:
    node = make_node(tmp_path / "n")
    add_member(node, "alex")
    node.close()
    with serve(tmp_path / "n") as served:
        _home(served.url, "alex")
        with urllib.request.urlopen(served.url + "/metrics") as answer:  # loopback: allowed
            text = answer.read().decode()
    assert 'hameau_http_requests_total{method="POST",route="/login",status="303"} 1.0' in text
    # The form, then its answer.
    assert 'hameau_http_request_duration_seconds_count{route="/login"} 2.0' in text
    assert re.search(
        r'hameau_http_request_duration_seconds_bucket\{le="\+Inf",route="/"\} [1-9]', text
    )
    assert "process_resident_memory_bytes" in text
