"""The hamlet over TLS, with real `hameau serve --tls` processes: a peer whose certificate
changed is refused, pairing over plain HTTP is refused, a signed request that comes in plain
HTTP is refused (403), the household's own pages over HTTPS in Chromium, and a certificate
given by the household served and pinned."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hameau.hamlet.signer import Signer
from hameau.node import tls
from tests.e2e.hamlet_nodes import Home, hamlet, invite, join
from tests.e2e.served import chromium_trusting, free_port

pytest.importorskip(
    "http_message_signatures", reason="not run: http-message-signatures is not installed"
)

HTTPS_ONLY = "over HTTPS only"


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0, done.stdout
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    return done.stderr.strip()


def served_certificate(home: Home) -> bytes:
    """The DER certificate the node's port presents."""
    port = int(home.url.rsplit(":", 1)[1])
    return ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", port)))


def household_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate and key as a household's own tools would make them (RSA, another name)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "maison.example")])
    now = datetime.now(UTC) - timedelta(minutes=5)
    alt = [x509.DNSName("maison.example"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = folder / "maison.crt", folder / "maison.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return cert_file, key_file


def test_a_peer_whose_certificate_changed_is_refused(tmp_path: Path) -> None:
    with hamlet(tmp_path, names=("A", "B"), pairs=(("B", "A"),)) as homes:
        a, b = homes["A"], homes["B"]
        assert a.run("hamlet", "ping", "B").returncode == 0
        # New names for B's certificate: made again with the same key, so still B.
        (b.data_dir / "hameau.toml").write_text('[node]\ntls_names = "maison-b.lan"\n')
        b.restart()
        assert b"maison-b.lan" in served_certificate(b)
        assert a.run("hamlet", "ping", "B").returncode == 0
        # A new key (the files replaced, as by someone else's server at B's address): refused.
        (b.data_dir / "tls.crt").unlink()
        (b.data_dir / "tls.key").unlink()
        b.restart()
        said = one_line(a.run("hamlet", "ping", "B"))
        assert (
            f"The server at {b.url} is not the home paired as B (its certificate differs)" in said
        )
        assert "refused" in a.run("hamlet", "list").stdout
        assert b.run("hamlet", "ping", "A").returncode == 0  # A's certificate did not change


def test_pairing_over_plain_http_is_refused(tmp_path: Path) -> None:
    with hamlet(tmp_path, names=("A", "B"), pairs=()) as homes:
        a, b = homes["A"], homes["B"]
        plain_a = a.url.replace("https://", "http://")
        said = one_line(a.run("hamlet", "invite", "--address", plain_a))
        assert HTTPS_ONLY in said and "hameau serve --tls" in said and "https://" in said
        invitation = invite(a)
        # The joiner giving its own address in plain HTTP: refused before anything is sent.
        said = one_line(b.run("hamlet", "join", invitation, "--address", "http://127.0.0.1:1"))
        assert HTTPS_ONLY in said
        # An invitation whose address was made plain: refused as it is read.
        body = invitation.removeprefix("hameau-invite-")
        found = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        found["a"] = plain_a
        raw = json.dumps(found, separators=(",", ":")).encode()
        made_plain = "hameau-invite-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
        assert HTTPS_ONLY in one_line(join(b, made_plain))
        assert "Paired with A" in join(b, invitation).stdout  # the invitation still works


def test_a_signed_request_over_plain_http_is_refused(tmp_path: Path) -> None:
    with hamlet(tmp_path, names=("A", "B"), pairs=(("B", "A"),)) as homes:
        a, b = homes["A"], homes["B"]
        a.restart(tls=False)
        assert a.url.startswith("http://")
        signer = Signer(b.node_id, b.key(), a.node_id)  # B's key, paired: signed right
        with httpx.Client(base_url=a.url, auth=signer, timeout=20) as plain:
            answer = plain.post("/api/hamlet/ping", content=b"x", headers={"Accept-Language": "en"})
            french = plain.get("/api/hamlet/ping", headers={"Accept-Language": "fr"})
        assert answer.status_code == 403
        assert HTTPS_ONLY in answer.json()["error"] and "serve --tls" in answer.json()["error"]
        assert french.status_code == 403 and "HTTPS" in french.json()["error"]
        assert "refused a node-to-node request over plain HTTP" in a.served.output()
        # B's own client does not even try: A's pinned address is https://, now unanswered.
        assert b.run("hamlet", "ping", "A").returncode != 0


def test_serve_tls_serves_the_household_pages_in_chromium(tmp_path: Path, browser: Any) -> None:
    with hamlet(tmp_path, names=("A",), pairs=()) as homes:
        a = homes["A"]
        assert a.url.startswith("https://")
        with chromium_trusting(browser, (a.data_dir / "tls.crt",)) as trusting:
            page = trusting.new_page(locale="fr-FR")
            answer = page.goto(a.url + "/setup")
            assert answer is not None and answer.ok
            assert page.url.startswith("https://")
            assert page.locator("form").count() >= 1  # the first admin's form, not a warning
        # Another certificate than the node's: Chromium refuses the page.
        with chromium_trusting(browser, ()) as stranger:
            page = stranger.new_page()
            with pytest.raises(Exception, match="ERR_CERT"):
                page.goto(a.url + "/setup")


def test_a_certificate_given_by_the_household_is_served_and_pinned(tmp_path: Path) -> None:
    with hamlet(tmp_path, names=("A", "B"), pairs=()) as homes:
        a, b = homes["A"], homes["B"]
        cert, key = household_certificate(tmp_path)
        # In the settings, so that `hamlet invite` pins it too; on the command line as well.
        (a.data_dir / "hameau.toml").write_text(f'[node]\ntls_cert = "{cert}"\ntls_key = "{key}"\n')
        a.restart("--cert", str(cert), "--key", str(key))
        assert served_certificate(a) == ssl.PEM_cert_to_DER_cert(cert.read_text())
        own = tls.own(a.data_dir).fingerprint
        assert tls.fingerprint_of_pem(cert.read_bytes()) != own
        done = join(b, invite(a))
        assert done.returncode == 0, done.stderr
        assert b.run("hamlet", "ping", "A").returncode == 0
        assert a.run("hamlet", "ping", "B").returncode == 0


def test_a_certificate_that_cannot_be_used_is_one_line(tmp_path: Path) -> None:
    with hamlet(tmp_path, names=("A",), pairs=()) as homes:
        data_dir = homes["A"].data_dir
        for cert, key in (
            (tmp_path / "none.crt", tmp_path / "none.key"),
            (data_dir / "tls.crt", None),
        ):
            given = ["--cert", str(cert)] + (["--key", str(key)] if key else [])
            done = subprocess.run(
                [sys.executable, "-m", "hameau", "serve", "--data-dir", str(data_dir),
                 "--port", str(free_port()), *given],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            said = one_line(done)
            assert "Traceback" not in done.stderr
            assert (
                ("No file at" in said) if key else ("Give both a certificate and its key" in said)
            )
