"""A real `hameau serve` process on a free loopback port, and a real headless Chromium."""

from __future__ import annotations

import os
import signal
import socket
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

    def output(self) -> str:
        return self.log.read_text()


def wait_until_up(url: str, process: subprocess.Popen[str], log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"hameau serve exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"hameau serve did not answer in {seconds} s:\n{log.read_text()}")


@contextmanager
def serve(
    data_dir: Path,
    env: dict[str, str] | None = None,
    port: int | None = None,
    host: str | None = None,  # the settings' (127.0.0.1) by default
    prefix: tuple[str, ...] = (),  # e.g. ("ip", "netns", "exec", NAME): served in a namespace
) -> Iterator[Served]:
    port = port or free_port()
    log = data_dir.parent / f"serve-{port}.log"
    with log.open("w") as output:
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
                *(["--host", host] if host else []),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    url = f"http://{host or '127.0.0.1'}:{port}"
    try:
        wait_until_up(url, process, log)
        yield Served(url, process, data_dir, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def login_cookie(url: str, name: str, password: str) -> str:
    """Log in through the real form, as a browser would; returns the session cookie."""
    import http.cookiejar
    import re
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{url}/login?member={name}").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = urllib.parse.urlencode({"name": name, "password": password, "csrf_token": token})
    opener.open(f"{url}/login", data=form.encode())
    return next(cookie.value for cookie in jar if cookie.name == "hameau_session")


def log_in_page(
    browser: Any, url: str, name: str, password: str = PASSWORD, height: int = 640
) -> Any:
    """A new French page in ``browser``, logged in as ``name`` through the login form."""
    page = browser.new_page(locale="fr-FR", viewport={"width": 1000, "height": height})
    page.goto(url + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    return page
