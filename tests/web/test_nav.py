"""The navigation bar on every member page, and who is logged in on a shared device."""

from __future__ import annotations

import re

from hameau.accounts import devices
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, browser, enrol, log_in

NAV = re.compile(r'<nav class="apps" aria-label="([^"]+)">(.*?)</nav>', re.S)
CURRENT = re.compile(r'<a href="([^"]+)" aria-current="page">')

# A member page -> the navigation entry marked as the current one.
MEMBER_PAGES = {
    "/files/mine/": "/files/mine/", "/files/trash": "/files/mine/", "/agenda": "/agenda",
    "/contacts": "/agenda", "/notes": "/notes", "/messages": "/messages", "/travel": "/travel",
    "/ai": "/ai", "/account": "/account", "/account/sessions": "/account",
    "/account/tokens": "/account", "/footprint": "/footprint",
}  # fmt: skip
ADMIN_PAGES = {
    "/admin/members": "/account",
    "/admin/devices": "/account",
    "/admin/space": "/files/mine/",
    "/footprint/household": "/footprint",
}


def nav_of(html: str) -> tuple[str, str]:
    found = NAV.search(html)
    assert found, "no navigation bar on the page"
    return found.group(1), found.group(2)


def test_every_member_page_has_the_navigation_with_its_app_marked(node: Node) -> None:
    add_member(node, "camille", admin=True)
    add_member(node, "alex")
    member, admin = browser(node), browser(node)
    log_in(member, "alex")
    log_in(admin, "camille")
    for client, pages in ((member, MEMBER_PAGES), (admin, {**MEMBER_PAGES, **ADMIN_PAGES})):
        for path, current in pages.items():
            page = client.get(path)
            assert page.status_code == 200, path
            label, links = nav_of(page.text)
            assert label == "Applications"
            assert CURRENT.findall(links) == [current], path
            assert ">Fichiers</a>" in links and ">Mon compte</a>" in links
            assert "/admin/" not in links  # one entry per app, never an admin page
    label, home = nav_of(member.get("/").text)
    assert CURRENT.findall(home) == []  # the home page is no app's


def test_the_navigation_is_only_for_members(node: Node) -> None:
    add_member(node, "alex")
    assert '<nav class="apps"' not in browser(node).get("/login").text


def test_a_shared_device_names_who_is_logged_in_and_offers_to_switch(node: Node) -> None:
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        devices.add_device(session, "Cuisine", "terminal", True)
    client = browser(node)
    enrol(client, node, "Cuisine")
    log_in(client, "alex")
    for path in ("/", "/notes", "/account"):
        header = client.get(path).text.split("<header")[1].split("</header>")[0]
        assert '<a class="who" href="/account">Alex</a>' in header
        assert ">Changer de personne</button>" in header and "Se déconnecter" not in header
        assert "Cuisine · partagé" in header
