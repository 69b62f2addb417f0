"""What signing node-to-node requests costs: signing and checking one request in the process
(RFC 9421 with Content-Digest, the library alone), then two real nodes served with --tls and
paired with the command line, and B's signed POST of 1 KiB to A's /api/hamlet/ping over
HTTPS pinned to A's certificate (signature checked against the pinned key, nonce and last
sight stored in one commit, the answer signed by A and checked by B) beside an unsigned
GET /healthz over the same HTTPS, and over plain HTTP (A's data dir served a second time,
without TLS), in the same run, one request at a time on a kept-alive connection; then the
same GET on a new connection each time, HTTPS and plain HTTP (the handshake's cost).
And a visitor's page
(their files) on B's shared terminal, relayed by B to A, beside the same page loaded directly
at A by the same member, in the same run. Prints one JSON line.

    .venv/bin/python bench/hamlet.py [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import httpx
from common import ROOT  # noqa: F401  (puts the repository on the path)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import HTTPMessageVerifier, MappingKeyResolver, algorithms

from hameau.hamlet.answers import check_answer
from hameau.hamlet.signer import Signer
from hameau.node import tls
from hameau.node.datadir import Layout
from hameau.node.identity import load_identity
from hameau.node.peer import Peer
from tests.e2e.served import Served, free_port, serve


def per_call_us(work: Callable[[], object], times: int) -> float:
    start = time.perf_counter()
    for _ in range(times):
        work()
    return round((time.perf_counter() - start) / times * 1e6, 1)


def in_process(times: int) -> dict[str, float]:
    key = Ed25519PrivateKey.generate()
    signer = Signer("k", key, "audience")
    body = b"x" * 1024

    def signed() -> httpx.Request:
        request = httpx.Request("POST", "http://127.0.0.1:8080/api/hamlet/ping", content=body)
        next(signer.auth_flow(request))
        return request

    request = signed()
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={"k": key.public_key()}, private_keys={}),
    )

    def check() -> object:
        return verifier.verify(request, expect_tag="hameau", body=body)

    return {"sign_us": per_call_us(signed, times), "verify_us": per_call_us(check, times)}


def hameau(*args: str | Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hameau", *map(str, args)], capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(done.stderr)
    return done.stdout.strip()


def timed_ms(work: Callable[[], object], times: int) -> float:
    spent = []
    for _ in range(times):
        start = time.perf_counter()
        work()
        spent.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(spent), 2)


def check_answer_of(key: object, node_id: str, response: httpx.Response, nonce: str) -> None:
    check_answer(response, key, node_id, nonce)  # type: ignore[arg-type]


def new_connection(url: str, verify: object) -> None:
    with httpx.Client(verify=verify) as client:  # type: ignore[arg-type]
        client.get(url + "/healthz")


def handshakes(https: Served, plain: Served, times: int) -> dict[str, float]:
    """A GET on a new connection each time: what TLS's handshake adds to a first request."""
    own = https.verify
    return {
        "https_new_connection_p50_ms": timed_ms(lambda: new_connection(https.url, own), times),
        # The same client setup (its context unused over http): only the handshake differs.
        "http_new_connection_p50_ms": timed_ms(lambda: new_connection(plain.url, own), times),
    }


def served(times: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        homes = {}
        for name in ("A", "B"):
            data_dir = Path(scratch) / name
            hameau("init", "--name", name, "--data-dir", data_dir)
            homes[name] = stack.enter_context(serve(data_dir, port=free_port(), tls=True))
        a, b = homes["A"], homes["B"]
        a_plain = stack.enter_context(serve(a.data_dir, port=free_port()))
        invitation = hameau("hamlet", "invite", "--address", a.url, "--data-dir", a.data_dir)
        hameau("hamlet", "join", invitation, "--address", b.url, "--data-dir", b.data_dir)
        own = load_identity(Layout(b.data_dir).key_file)
        theirs = load_identity(Layout(a.data_dir).key_file)
        key, audience = theirs.private_key.public_key(), theirs.node_id
        check = partial(check_answer_of, key, audience)
        signer = Signer(own.node_id, own.private_key, audience, check)
        pinned = tls.pinned_context(tls.own(a.data_dir).fingerprint, lambda: SystemExit("pin"))
        body = b"x" * 1024
        with (
            Peer(a.url, signer=signer, verify=pinned) as signed,
            Peer(a.url, verify=a.verify) as unsigned,
            Peer(a_plain.url) as plain,
        ):
            signed.call("POST", "/api/hamlet/ping", content=body)  # warm all three
            unsigned.request("GET", "/healthz")
            plain.request("GET", "/healthz")
            figures = {
                "signed_ping_p50_ms": timed_ms(
                    lambda: signed.call("POST", "/api/hamlet/ping", content=body), times
                ),
                "unsigned_healthz_p50_ms": timed_ms(
                    lambda: unsigned.request("GET", "/healthz"), times
                ),
                "plain_http_healthz_p50_ms": timed_ms(
                    lambda: plain.request("GET", "/healthz"), times
                ),
            }
        figures |= handshakes(a, a_plain, max(times // 4, 10))
        # TLS alone (same GET, kept-alive), and signed over HTTPS against unsigned in plain.
        figures["tls_cost_ms"] = round(
            figures["unsigned_healthz_p50_ms"] - figures["plain_http_healthz_p50_ms"], 2
        )
        figures["signed_https_over_plain_http_ms"] = round(
            figures["signed_ping_p50_ms"] - figures["plain_http_healthz_p50_ms"], 2
        )
        return figures


PAGE = "/files/mine/"
MEMBER, PASSWORD = "ada", "un potager partagé"


def _form_token(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def _visitor(a: Served, b: Served) -> httpx.Client:
    """B's browser enrolled as a shared terminal, through a visit signed in at A."""
    hameau("device", "add", "Hall", "--kind", "terminal", "--shared", "--data-dir", b.data_dir)
    link = hameau("device", "enrol-link", "Hall", "--url", b.url, "--data-dir", b.data_dir)
    terminal = httpx.Client(base_url=b.url, verify=b.verify)
    confirm = terminal.get(link.removeprefix(b.url))
    terminal.post("/devices/enrol", data={"code": link.split("code=")[1],
                                          "csrf_token": _form_token(confirm.text)})  # fmt: skip
    picker = terminal.get("/visit")
    home = picker.text.split('name="home" value="')[1].split('"')[0]
    sent = terminal.post(
        "/visit/start", data={"home": home, "csrf_token": _form_token(picker.text)}
    )
    with httpx.Client(verify=a.verify) as at_home:  # the browser at A: no cookie of B goes there
        form = at_home.get(sent.headers["location"])
        action = form.text.split('<form class="stack" method="post" action="')[1].split('"')[0]
        back = at_home.post(
            a.url + action.replace("&amp;", "&"),
            data={"name": MEMBER, "password": PASSWORD, "csrf_token": _form_token(form.text)},
        )
    terminal.get(back.headers["location"].removeprefix(b.url))
    return terminal


def visit_pages(times: int) -> dict[str, float]:
    """A visitor's page through B's relay, and the same page directly at A, same member."""
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        homes = {}
        for name in ("A", "B"):
            data_dir = Path(scratch) / name
            hameau("init", "--name", name, "--data-dir", data_dir)
            homes[name] = stack.enter_context(serve(data_dir, port=free_port(), tls=True))
        a, b = homes["A"], homes["B"]
        invitation = hameau("hamlet", "invite", "--address", a.url, "--data-dir", a.data_dir)
        hameau("hamlet", "join", invitation, "--address", b.url, "--data-dir", b.data_dir)
        for home, member in ((a, MEMBER), (b, "bea")):
            subprocess.run(
                [sys.executable, "-m", "hameau", "member", "add", member, "--password-stdin",
                 "--data-dir", str(home.data_dir)],
                input=PASSWORD, text=True, check=True, capture_output=True,
            )  # fmt: skip
        terminal = _visitor(a, b)
        stack.callback(terminal.close)
        direct = stack.enter_context(httpx.Client(base_url=a.url, verify=a.verify))
        login = direct.get(f"/login?member={MEMBER}")
        direct.post("/login", data={"name": MEMBER, "password": PASSWORD,
                                    "csrf_token": _form_token(login.text)})  # fmt: skip
        relayed = terminal.get(PAGE)
        assert relayed.status_code == 200 and "hv_" not in relayed.text, relayed.text[:300]
        assert direct.get(PAGE).status_code == 200
        return {
            "visit_page_relayed_p50_ms": timed_ms(lambda: terminal.get(PAGE), times),
            "visit_page_direct_p50_ms": timed_ms(lambda: direct.get(PAGE), times),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    options = parser.parse_args()
    figures = {"bench": "hamlet", "when": datetime.now(UTC).isoformat(timespec="seconds")}
    figures |= in_process(options.requests * 5)
    figures |= served(options.requests)
    figures |= visit_pages(options.requests)
    figures["requests"] = options.requests
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
