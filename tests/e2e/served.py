"""A real `hameau serve` process on a free loopback port, and a real headless Chromium."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    data_dir: Path
    log: Path
    cert: Path | None = None  # the certificate it serves HTTPS with

    def output(self) -> str:
        return self.log.read_text()

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """httpx's `verify` for this server: trusting its own certificate, when it has one."""
        return trusting(self.cert) if self.cert else True


def trusting(cert: Path) -> ssl.SSLContext:
    """A client TLS context that trusts this one (self-signed) certificate."""
    return ssl.create_default_context(cafile=str(cert))


def wait_until_up(
    url: str, process: subprocess.Popen[str], log: Path, seconds: float = 30,
    cert: Path | None = None,
) -> None:  # fmt: skip
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"hameau serve exited early:\n{log.read_text()}")
        try:
            # A node's own certificate is written as it starts: trusted once it is there.
            context = trusting(cert) if cert and cert.exists() else None
            if cert and context is None:
                raise OSError("no certificate yet")
            with urllib.request.urlopen(url + "/healthz", timeout=1, context=context) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"hameau serve did not answer in {seconds} s:\n{log.read_text()}")


def _cert_of(data_dir: Path, args: tuple[str, ...]) -> Path:
    """The certificate a node started with `args` serves: --cert's, else its own."""
    given = list(args)
    return Path(given[given.index("--cert") + 1]) if "--cert" in given else data_dir / "tls.crt"


@contextmanager
def serve(
    data_dir: Path,
    env: dict[str, str] | None = None,
    port: int | None = None,
    tls: bool = False,
    args: tuple[str, ...] = (),
    host: str | None = None,  # the settings' (127.0.0.1) by default
    prefix: tuple[str, ...] = (),  # e.g. ("ip", "netns", "exec", NAME): served in a namespace
) -> Iterator[Served]:
    """`hameau serve` on a free port; with `tls`, `--tls` (and `args`, e.g. --cert/--key) and
    an https:// url, waited for by a client that trusts the node's certificate."""
    port = port or free_port()
    log = data_dir.parent / f"serve-{port}.log"
    options = ("--tls", *args) if tls else args
    with log.open("a") as output:
        process = subprocess.Popen(
            [
                *prefix,
                sys.executable,
                "-m",
                "hameau",
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                *options,
                *(["--host", host] if host else []),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    url = f"{'https' if tls else 'http'}://{host or '127.0.0.1'}:{port}"
    cert = _cert_of(data_dir, options) if tls else None
    try:
        wait_until_up(url, process, log, cert=cert)
        yield Served(url, process, data_dir, log, cert)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def chromium(trust: tuple[Path, ...] = ()) -> Iterator[Any]:
    """Headless Chromium; `trust`: certificates (PEM) whose key it accepts, self-signed or
    not (Chromium's own SPKI pinning flag, the way a household would add an exception)."""
    from playwright.sync_api import sync_playwright

    args = chromium_args(trust)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def chromium_trusting(browser: Any, trust: tuple[Path, ...]) -> Iterator[Any]:
    """Another Chromium of `browser`'s Playwright (one Playwright per thread), accepting the
    keys of these certificates, as a household that added its nodes' certificates would."""
    launched = browser.browser_type.launch(
        executable_path=CHROMIUM, headless=True, args=chromium_args(trust)
    )
    try:
        yield launched
    finally:
        launched.close()


def chromium_args(trust: tuple[Path, ...] = ()) -> list[str]:
    """Chromium's flags, trusting the keys of these certificates (PEM)."""
    args = list(CHROMIUM_ARGS)
    if trust:
        pins = ",".join(_spki_sha256(cert) for cert in trust)
        args.append(f"--ignore-certificate-errors-spki-list={pins}")
    return args


def _spki_sha256(cert: Path) -> str:
    """Base64 (standard) of the SHA-256 of a certificate's public key, as Chromium wants it."""
    import base64
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def login_cookie(url: str, name: str, password: str, verify: Any = None) -> str:
    """Log in through the real form, as a browser would; returns the session cookie. `verify`:
    an SSL context trusting an https server (`Served.verify`)."""
    import http.cookiejar
    import re
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    handlers: list[Any] = [urllib.request.HTTPCookieProcessor(jar)]
    if verify is not None and not isinstance(verify, bool):
        handlers.append(urllib.request.HTTPSHandler(context=verify))
    opener = urllib.request.build_opener(*handlers)
    page = opener.open(f"{url}/login?member={name}").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = urllib.parse.urlencode({"name": name, "password": password, "csrf_token": token})
    opener.open(f"{url}/login", data=form.encode())
    return next(cookie.value for cookie in jar if cookie.name == "hameau_session")


def log_in_page(
    browser: Any, url: str, name: str, password: str = PASSWORD, height: int = 640
) -> Any:
    """A new French page in ``browser``, logged in as ``name`` through the login form. Over
    https, the node's own certificate is accepted as is: how peers and browsers pin it is
    tested in tests/e2e/test_hamlet_tls.py."""
    page = browser.new_page(
        locale="fr-FR", viewport={"width": 1000, "height": height},
        ignore_https_errors=url.startswith("https:"),
    )  # fmt: skip
    page.goto(url + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    return page
