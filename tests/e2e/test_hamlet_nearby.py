"""Nearby homes over real mDNS: served nodes announcing themselves (`hamlet_announce` on, as
on a LAN), found by `hameau hamlet nearby` and by the hamlet page's fragment, and a spoofed
announcement (another node's name, or a paired node's very id and key at another address)
that changes nothing this node trusts."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hameau.hamlet import nearby
from hameau.hamlet.signing import fingerprint_of, node_id_of
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.e2e.served import login_cookie
from tests.helpers import in_thread, mdns_alone

zeroconf = pytest.importorskip("zeroconf", reason="not run: zeroconf is not installed")

pytestmark = pytest.mark.e2e
ANNOUNCE = {"HAMEAU_HAMLET_ANNOUNCE": "on"}  # the nodes listen on loopback: auto would be off
NOT_PAIRED = "not paired: pairing still needs an invitation from its admin"


def multicast_works() -> bool:
    """Whether an mDNS announcement made here is heard here (a host without a multicast
    interface, or a sandbox dropping it, cannot run these tests)."""
    info = zeroconf.ServiceInfo(
        nearby.SERVICE, "probe._hameau._tcp.local.", port=9,
        properties=nearby.txt_record(node_id_of(b"p" * 32), fingerprint_of(b"p" * 32), "http"),
        parsed_addresses=["127.0.0.1"], server="probe.local.",
    )  # fmt: skip
    try:
        zc = zeroconf.Zeroconf()
    except OSError:
        return False
    try:
        zc.register_service(info, cooperating_responders=True)
        return any(home.name == "probe" for home in nearby.browse(1.5))
    finally:
        zc.unregister_all_services()
        zc.close()


@pytest.fixture(scope="module", autouse=True)
def multicast() -> Iterator[None]:
    with mdns_alone():  # no other file's homes announcing meanwhile
        if not in_thread(multicast_works):
            pytest.skip("not run: no multicast interface (an mDNS announcement here is not heard)")
        yield


def announce(name: str, key: bytes, port: int) -> zeroconf.Zeroconf:
    """An announcement made by hand, as anyone on the network could."""
    zc = zeroconf.Zeroconf()
    info = zeroconf.ServiceInfo(
        nearby.SERVICE, f"{name}.{nearby.SERVICE}", port=port,
        properties=nearby.txt_record(node_id_of(key), fingerprint_of(key), "http"),
        parsed_addresses=["127.0.0.1"], server=f"spoof-{port}.local.",
    )  # fmt: skip
    zc.register_service(info, cooperating_responders=True)  # no probing: it claims the name
    return zc


def spoof_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_with_nobody_announcing_the_cli_says_so_and_exits_0(tmp_path: Path) -> None:
    # E serves on loopback with the default setting (auto): it does not announce itself.
    with hamlet(tmp_path, names=("D", "E"), pairs=()) as homes:
        found = homes["D"].run("hamlet", "nearby", "--seconds", "1.5")
    assert found.returncode == 0, found.stderr
    assert "no home found nearby" in found.stdout.lower()


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Home]]:
    env = {"A": ANNOUNCE, "B": ANNOUNCE, "C": ANNOUNCE}
    with hamlet(
        tmp_path_factory.mktemp("nearby"), names=("A", "B", "C"), pairs=(("B", "A"),), env=env
    ) as found:
        time.sleep(2)  # the announcements: probes, then three broadcasts
        yield found


def entries(listing: str, name: str) -> list[str]:
    """What `hamlet nearby` printed for each home announced as `name`: its line and the
    indented ones under it."""
    blocks: list[list[str]] = []
    for line in listing.splitlines():
        if not line.startswith(" "):
            blocks.append([])
        if blocks:
            blocks[-1].append(line)
    return ["\n".join(block) for block in blocks if block[0].split("\t")[0] == name]


def entry(listing: str, name: str) -> str:
    found = entries(listing, name)
    assert len(found) == 1, f"{name} listed {len(found)} times:\n{listing}"
    return found[0]


def test_paired_homes_find_each_other_and_an_unpaired_one_needs_an_invitation(
    homes: dict[str, Home],
) -> None:
    a, b, c = homes["A"], homes["B"], homes["C"]
    listing = a.run("hamlet", "nearby").stdout
    found_b = entry(listing, "B")
    assert b.node_id in found_b and b.url.rsplit(":", 1)[1] in found_b
    assert f"already paired with this node, as B (node id {b.node_id})" in found_b
    found_c = entry(listing, "C")
    assert c.node_id in found_c and NOT_PAIRED in found_c
    assert a.node_id not in listing  # itself is not listed
    assert f"as A (node id {a.node_id})" in entry(b.run("hamlet", "nearby").stdout, "A")
    assert NOT_PAIRED in entry(c.run("hamlet", "nearby").stdout, "A")


def test_a_spoofed_announcement_changes_no_pinned_peer(homes: dict[str, Home]) -> None:
    a, b = homes["A"], homes["B"]
    before = a.run("hamlet", "list").stdout
    b_key = b.key().public_key().public_bytes_raw()
    impostors = [
        in_thread(announce, "B", b"x" * 32, spoof_port()),  # B's name, another key
        in_thread(announce, "B-again", b_key, spoof_port()),  # B's id and key, another address
    ]
    try:
        listing = a.run("hamlet", "nearby").stdout
    finally:
        for zc in impostors:
            in_thread(zc.unregister_all_services)
            in_thread(zc.close)
    # One name, two responders: DNS-SD lists it once, from whichever answered; claimed by a
    # key other than the one pinned for B, it is never shown as paired.
    for claim in entries(listing, "B"):
        assert b.node_id in claim or NOT_PAIRED in claim, listing
    # B's id and key announced from elsewhere: shown as what it claims, and trusted no more.
    again = entry(listing, "B-again")
    assert f"as B (node id {b.node_id})" in again
    assert f"paired at {b.url}: requests go there, not here" in again
    assert a.run("hamlet", "list").stdout == before  # same name, address, state: nothing pinned
    pinged = a.run("hamlet", "ping", "B")
    assert pinged.returncode == 0 and "B answered" in pinged.stdout


def add_member(home: Home, name: str, admin: bool) -> str:
    password = "nearby-test-password"
    made = subprocess.run(
        [sys.executable, "-m", "hameau", "member", "add", name, "--password-stdin",
         *(["--admin"] if admin else []), "--data-dir", str(home.data_dir)],
        input=password, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return password


def test_the_hamlet_page_fragment_lists_them_for_admins_only(homes: dict[str, Home]) -> None:
    a, b, c = homes["A"], homes["B"], homes["C"]
    admin = login_cookie(a.url, "camille", add_member(a, "camille", admin=True), a.verify)
    member = login_cookie(a.url, "sam", add_member(a, "sam", admin=False), a.verify)
    ask = {"Accept-Language": "en", "HX-Request": "true"}
    with httpx.Client(base_url=a.url, verify=a.verify, timeout=30) as client:
        refused = client.get(
            "/hamlet/nearby", headers={**ask, "Cookie": f"hameau_session={member}"}
        )
        for _ in range(3):  # a busy machine may hear an announcement late: "look again"
            page = client.get(
                "/hamlet/nearby", headers={**ask, "Cookie": f"hameau_session={admin}"}
            )
            if b.node_id in page.text and c.node_id in page.text:
                break
    assert refused.status_code == 403
    assert page.status_code == 200
    assert b.node_id in page.text and c.node_id in page.text
    assert f"Already paired with this home server, as B (id {b.node_id})" in page.text
    assert "Pairing still needs an invitation from its admin." in page.text
    assert 'hx-get="/hamlet/nearby"' in page.text  # "look again"
    assert 'hx-trigger="load"' not in page.text  # the list does not ask for itself again
