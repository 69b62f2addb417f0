"""The node's own TLS certificate (hameau/node/tls.py): made by `init` with its key readable by
the owner only, naming what the settings say, made again with the same key (so what peers
pin holds) when names change; a household's files checked; nothing loaded when TLS is off."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hameau.config import load_settings
from hameau.node import tls
from hameau.node.datadir import Node


def names_in(cert: Path) -> set[str]:
    found = x509.load_pem_x509_certificate(cert.read_bytes())
    alt = found.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(name) for name in alt.get_values_for_type(x509.DNSName)} | {
        str(address) for address in alt.get_values_for_type(x509.IPAddress)
    }


def test_init_makes_the_certificate_beside_the_node_key(node: Node) -> None:
    files = tls.own(node.layout.root)
    assert files.key.stat().st_mode & 0o777 == 0o600
    assert {"localhost", "127.0.0.1", "::1"} <= names_in(files.cert)
    found = x509.load_pem_x509_certificate(files.cert.read_bytes())
    spki = found.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = base64.urlsafe_b64encode(hashlib.sha256(spki).digest()).decode().rstrip("=")
    assert files.fingerprint == expected
    assert (
        found.signature_hash_algorithm is not None and found.public_key().curve.name == "secp256r1"
    )  # type: ignore[union-attr]


def test_new_names_make_a_new_certificate_with_the_same_key(node: Node) -> None:
    root = node.layout.root
    before = tls.own(root).fingerprint
    (root / "hameau.toml").write_text('[node]\ntls_names = "maison.lan, 192.168.1.20"\n')
    files = tls.for_serving(load_settings(root), "A")
    assert {"maison.lan", "192.168.1.20"} <= names_in(files.cert)
    assert files.fingerprint == before


def test_a_key_others_can_read_is_refused(node: Node) -> None:
    key = tls.own(node.layout.root).key
    key.chmod(0o644)
    with pytest.raises(tls.TlsError, match="chmod 600"):
        tls.for_serving(load_settings(node.layout.root), "A")


def test_the_households_files_must_come_in_pairs_and_exist(node: Node, tmp_path: Path) -> None:
    settings = load_settings(node.layout.root)
    with pytest.raises(tls.TlsError, match="Give both"):
        tls.for_serving(settings.with_overrides(tls_cert=str(tmp_path / "a.crt")), "A")
    given = settings.with_overrides(tls_cert=str(tmp_path / "a.crt"), tls_key=str(tmp_path / "a"))
    with pytest.raises(tls.TlsError, match="No file at"):
        tls.for_serving(given, "A")
    own = tls.own(node.layout.root)
    (tmp_path / "other.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\nnope\n")
    mismatched = settings.with_overrides(
        tls_cert=str(own.cert), tls_key=str(tmp_path / "other.key")
    )
    with pytest.raises(tls.TlsError, match="cannot be used together"):
        tls.for_serving(mismatched, "A")


def test_serving_without_tls_loads_no_certificate_library() -> None:
    code = "import sys, hameau.serving, hameau.node.tls; print('cryptography' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_tls_is_a_setting_too(tmp_path: Path) -> None:
    from hameau.config import ConfigError

    assert tls.enabled(load_settings(tmp_path, environ={"HAMEAU_TLS": "true"}))
    assert not tls.enabled(load_settings(tmp_path, environ={"HAMEAU_TLS": "off"}))
    assert tls.enabled(load_settings(tmp_path, environ={"HAMEAU_TLS_CERT": "a.crt"}))
    with pytest.raises(ConfigError, match="option 'tls' must be true or false"):
        load_settings(tmp_path, environ={"HAMEAU_TLS": "maybe"})
