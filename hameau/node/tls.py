"""The node's own TLS certificate, and checking a peer's by the fingerprint pinned for it.

Each node has a self-signed certificate (ECDSA P-256, so browsers take it too) in its data
dir, beside its Ed25519 key: `tls.crt`, and `tls.key` (mode 0600). `hameau init` makes them,
and `hameau serve --tls` on a data dir made before. Its SubjectAltName holds the names and
addresses the settings give (`host`, `tls_names`), this machine's name, localhost and the
loopback addresses. When those names change, the certificate is made again **with the same
key**, so what peers pin does not change.

What peers pin is the SHA-256 of the certificate's SubjectPublicKeyInfo (the public key, not
the certificate): a certificate renewed with the same key (a reverse proxy's, say) keeps it.
`pinned_context` gives an `ssl.SSLContext` for httpx that accepts exactly the server whose
certificate has the pinned key, whatever its name or issuer, and refuses any other before a
byte of the request is sent. cryptography is imported when a certificate is made or checked,
never by an idle node served without TLS.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CERT_FILE, KEY_FILE = "tls.crt", "tls.key"
VALID_DAYS = 20 * 365  # peers pin the key, not the dates: renewal is not their business
ALWAYS = ("localhost", "127.0.0.1", "::1")
ANY_ADDRESS = ("", "0.0.0.0", "::")  # noqa: S104  (listening on every interface names none)


class TlsError(Exception):
    """A certificate or key that cannot be used; the message says which file and what to do."""


@dataclass(frozen=True)
class Served:
    """The certificate and key a node serves HTTPS with."""

    cert: Path
    key: Path

    @property
    def fingerprint(self) -> str:
        return fingerprint_of_pem(self.cert.read_bytes())


def own(root: Path) -> Served:
    """The node's own certificate files, in its data dir (made or not)."""
    return Served(root / CERT_FILE, root / KEY_FILE)


def served(settings: Any) -> Served:
    """What the settings say the node serves: the household's files (`tls_cert`, `tls_key`)
    or the node's own."""
    if settings.tls_cert or settings.tls_key:
        if not (settings.tls_cert and settings.tls_key):
            raise TlsError("Give both a certificate and its key (--cert and --key), or neither.")
        return Served(Path(settings.tls_cert).expanduser(), Path(settings.tls_key).expanduser())
    return own(settings.data_dir)


def enabled(settings: Any) -> bool:
    """Whether the node serves HTTPS: `tls` on, or a certificate of the household's given."""
    return bool(settings.tls or settings.tls_cert or settings.tls_key)


def for_serving(settings: Any, title: str) -> Served:
    """The files to serve HTTPS with, checked; the node's own made first if missing."""
    files = served(settings)
    if files == own(settings.data_dir):
        ensure(settings.data_dir, names_for(settings), title)
    check_files(files)
    return files


def names_for(settings: Any) -> list[str]:
    """The names the node's certificate holds: the settings', this machine's, loopback's."""
    given = [name.strip() for name in str(settings.tls_names).split(",") if name.strip()]
    if settings.host not in ANY_ADDRESS:
        given.append(settings.host)
    machine = socket.gethostname()
    local = [machine, f"{machine}.local"] if machine.isascii() else []  # as mDNS names it
    found = [*given, *local, *ALWAYS]
    return list(dict.fromkeys(name.lower() for name in found if name))


def _fingerprint(certificate: Any) -> str:
    """SHA-256 of a certificate's SubjectPublicKeyInfo, URL-safe base64: what peers pin."""
    from cryptography.hazmat.primitives import serialization

    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.urlsafe_b64encode(hashlib.sha256(spki).digest()).decode().rstrip("=")


def fingerprint_of_der(certificate: bytes) -> str:
    from cryptography import x509

    return _fingerprint(x509.load_der_x509_certificate(certificate))


def fingerprint_of_pem(pem: bytes) -> str:
    """The first certificate's (the server's own, in a file that holds its chain too)."""
    from cryptography import x509

    return _fingerprint(x509.load_pem_x509_certificates(pem)[0])


def _alt_names(names: Iterable[str]) -> Any:
    from cryptography import x509

    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
            continue
        except ValueError:
            pass
        try:
            entries.append(x509.DNSName(name))
        except ValueError:
            raise TlsError(
                f"'{name}' (tls_names) is not a host name or address; write a name in ASCII"
                " (xn--… for accents)."
            ) from None
    return x509.SubjectAlternativeName(entries)


def _certificate(key: Any, names: list[str], title: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, title[:64] or "hameau")])
    now = datetime.now(UTC) - timedelta(days=1)  # a peer's clock a little behind still takes it
    public = key.public_key()
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    built = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(_alt_names(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return built.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write through a new file renamed into place, with its mode from the start."""
    temp = path.with_name(path.name + ".new")
    temp.unlink(missing_ok=True)
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _own_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if path.exists():
        if os.name == "posix" and path.stat().st_mode & 0o077:
            raise TlsError(f"{path} is readable by others; run `chmod 600 {path}`.")
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TlsError(f"{path} does not hold an ECDSA key; move it away to make a new one.")
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(path, pem, 0o600)
    return key


def _holds(cert: Path, names: list[str]) -> bool:
    """Whether the certificate there already names all of `names` and is not near its end."""
    from cryptography import x509

    try:
        found = x509.load_pem_x509_certificate(cert.read_bytes())
        alt = found.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    held = {str(name).lower() for name in alt.get_values_for_type(x509.DNSName)}
    held |= {str(address) for address in alt.get_values_for_type(x509.IPAddress)}
    wanted = {str(ipaddress.ip_address(n)) if _is_ip(n) else n for n in names}
    fresh = found.not_valid_after_utc > datetime.now(UTC) + timedelta(days=30)
    return wanted <= held and fresh


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def ensure(root: Path, names: list[str], title: str = "hameau") -> Served:
    """The node's own certificate, made if missing, made again (same key, so the same
    fingerprint) if it lacks one of `names` or nears its end."""
    files = own(root)
    if files.key.exists() and files.cert.exists() and _holds(files.cert, names):
        _own_key(files.key)  # still refuses a key others may read
        return files
    key = _own_key(files.key)
    _write(files.cert, _certificate(key, names, title), 0o644)
    return files


def check_files(files: Served) -> None:
    """The certificate and key can be read and belong together; TlsError says what is wrong."""
    for path in (files.cert, files.key):
        if not path.is_file():
            raise TlsError(f"No file at {path}; give the certificate and key files that exist.")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(files.cert, files.key)
    except (ssl.SSLError, OSError) as error:
        raise TlsError(
            f"{files.cert} and {files.key} cannot be used together ({error}); give a PEM"
            " certificate and its own unencrypted key."
        ) from None


# ---------------------------------------------------------------- checking a peer's certificate

Refusal = Callable[[], Exception]


def _check_pin(connection: Any) -> None:
    """After the handshake: the server's certificate must hold the pinned key."""
    context = connection.context
    certificate = connection.getpeercert(binary_form=True)
    if not certificate or fingerprint_of_der(certificate) != context.hameau_pin:
        raise context.hameau_refusal()


class _PinnedSocket(ssl.SSLSocket):
    """A blocking TLS socket (httpx.Client) that checks the pin once the handshake is done."""

    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        _check_pin(self)


class _PinnedObject(ssl.SSLObject):
    """A TLS object over memory buffers (httpx.AsyncClient, through anyio), checked the same."""

    def do_handshake(self) -> None:
        super().do_handshake()
        _check_pin(self)


def pinned_context(fingerprint: str, refusal: Refusal) -> ssl.SSLContext:
    """A client context that trusts exactly the server whose certificate's key has this
    fingerprint, self-signed or not, whatever name it was reached by; any other server is
    refused by raising `refusal()` before the request is sent."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False  # the pin is the identity: no name or authority to check
    context.verify_mode = ssl.CERT_NONE
    # Instance attributes, so that httpx's anyio path still sees a plain SSLContext.
    context.sslsocket_class = _PinnedSocket  # type: ignore[misc]
    context.sslobject_class = _PinnedObject  # type: ignore[misc]
    context.hameau_pin = fingerprint  # type: ignore[attr-defined]
    context.hameau_refusal = refusal  # type: ignore[attr-defined]
    return context


def trusting(cert: Path) -> ssl.SSLContext:
    """A client context that trusts this one certificate (the node's own, for its tools)."""
    return ssl.create_default_context(cafile=str(cert))
