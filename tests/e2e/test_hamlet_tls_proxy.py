"""A real Caddy in front of a node, as docs/household.md ("Serving over HTTPS") shows it: the
household's pages through Caddy's certificate, peers still at the node's own port (a peer
sent to Caddy's refuses it), and a proxy that forwards plain HTTP believed only when
`forwarded_allow_ips` names it. Caddy's own internal CA stands in for the public one."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from hameau.node.datadir import Layout
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.e2e.served import free_port

pytest.importorskip(
    "http_message_signatures", reason="not run: http-message-signatures is not installed"
)
if shutil.which("caddy") is None:
    pytest.skip("not run: caddy is not installed (apt-get install caddy)", allow_module_level=True)

# docs/household.md's site block, with `tls internal` for the public name's ACME certificate.
SITE = """{{
	admin off
	skip_install_trust
	auto_https disable_redirects
	storage file_system {storage}
}}
https://localhost:{port} {{
	tls internal
	reverse_proxy {upstream} {{
{transport}	}}
}}
"""
TRUSTING = """		transport http {{
			tls_trusted_ca_certs {cert}
		}}
"""


@contextmanager
def caddy(root: Path, upstream: str, trust: Path | None = None) -> Iterator[tuple[str, Path]]:
    """Caddy on a free port, forwarding to `upstream`; yields its URL and its CA's root."""
    port, storage = free_port(), root / "caddy"
    transport = TRUSTING.format(cert=trust) if trust else ""
    config = root / "Caddyfile"
    config.write_text(
        SITE.format(storage=storage, port=port, upstream=upstream, transport=transport)
    )
    log = (root / "caddy.log").open("w")
    process = subprocess.Popen(
        ["caddy", "run", "--config", str(config), "--adapter", "caddyfile"],
        stdout=log, stderr=subprocess.STDOUT, env={"HOME": str(root), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    url, ca = f"https://localhost:{port}", storage / "pki/authorities/local/root.crt"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (root / "caddy.log").read_text()
            try:
                context = ssl.create_default_context(cafile=str(ca))
                with urllib.request.urlopen(url + "/healthz", timeout=2, context=context):
                    break
            except (OSError, ssl.SSLError):
                assert time.monotonic() < deadline, (root / "caddy.log").read_text()
                time.sleep(0.2)
        yield url, ca
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        log.close()


def issuer(url: str) -> str:
    host, port = url.removeprefix("https://").rsplit(":", 1)
    pem = ssl.get_server_certificate((host, int(port)))
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem.encode()).issuer.rfc4514_string()


def test_caddy_serves_the_pages_and_peers_keep_the_nodes_own_port(tmp_path: Path) -> None:
    with hamlet(tmp_path, names=("A", "B"), pairs=(("B", "A"),)) as homes:
        a, b = homes["A"], homes["B"]
        with caddy(tmp_path, a.url, trust=a.data_dir / "tls.crt") as (url, ca):
            assert "Caddy Local Authority" in issuer(url)
            page = httpx.get(url + "/setup", verify=ssl.create_default_context(cafile=str(ca)))
            assert page.status_code == 200 and "<form" in page.text
            assert b.run("hamlet", "ping", "A").returncode == 0  # at A's own port
            sent_to_caddy = point(b, "A", url)
            assert sent_to_caddy.returncode != 0
            assert "is not the home paired as A (its certificate differs)" in sent_to_caddy.stderr


def point(home: Home, peer: str, address: str) -> subprocess.CompletedProcess[str]:
    """`hamlet ping` with the peer's address set to `address` for once."""
    with sqlite3.connect(Layout(home.data_dir).database) as db:
        (kept,) = db.execute("SELECT address FROM hamlet_peers WHERE name = ?", (peer,)).fetchone()
        db.execute("UPDATE hamlet_peers SET address = ? WHERE name = ?", (address, peer))
        db.commit()
        try:
            return home.run("hamlet", "ping", peer)
        finally:
            db.execute("UPDATE hamlet_peers SET address = ? WHERE name = ?", (kept, peer))
            db.commit()


def test_a_proxy_forwarding_plain_http_is_believed_only_when_named(tmp_path: Path) -> None:
    with hamlet(tmp_path, names=("A",), pairs=()) as homes:
        a = homes["A"]
        a.restart(tls=False)
        with caddy(tmp_path, a.url) as (url, ca):
            trusted = ssl.create_default_context(cafile=str(ca))
            ping = url + "/api/hamlet/ping"
            # Not named: the request came to the node in plain HTTP, so it is refused.
            assert httpx.get(ping, verify=trusted).status_code == 403
            (a.data_dir / "hameau.toml").write_text('[node]\nforwarded_allow_ips = "127.0.0.1"\n')
            a.restart(tls=False)
            # Named: its X-Forwarded-Proto says HTTPS; the (missing) signature is what is refused.
            assert httpx.get(ping, verify=trusted).status_code == 401
            assert httpx.get(a.url + "/api/hamlet/ping").status_code == 403  # direct, plain
