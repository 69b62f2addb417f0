"""Shares after a real move (docs/moving.md, "Shares follow"), two homes served as processes:
what the mover shared with a housemate who stays is no longer readable at the old home (not
in WebDAV's `shared/`, not by its address), and "Shared with me" says in words where it lives
now; what the housemate shared with the mover stays the housemate's; at the new home the
mover's folder arrives whole (shared there with the member of the same name, if one lives
there)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hameau.accounts import members
from hameau.files import service as files
from hameau.files import shares
from hameau.node.db import transaction
from tests.e2e.hamlet_nodes import hamlet
from tests.e2e.served import login_cookie
from tests.e2e.test_travel import app_password
from tests.helpers import PASSWORD, add_member
from tests.test_environment import opened, write

pytestmark = pytest.mark.e2e
PHOTO, RECIPE = b"\xff\xd8 a photo of the sea", b"tarte aux pommes"


def _furnish(root: Path) -> None:
    """Alex shares Photos with Sam; Sam shares Recettes with Alex."""
    node = opened(root)
    try:
        add_member(node, "alex")
        add_member(node, "sam")
        with transaction(node.sessions) as session:
            alex, sam = members.find_member(session, "alex"), members.find_member(session, "sam")
            members.set_locale(sam, "en")
            mine, theirs = files.space(alex, "mine"), files.space(sam, "mine")
            files.make_folder(session, alex, mine, ["Photos"])
            files.make_folder(session, sam, theirs, ["Recettes"])
            write(node, session, alex, ["Photos", "mer.jpg"], PHOTO)
            write(node, session, sam, ["Recettes", "tarte.txt"], RECIPE)
            shares.share(session, alex, files.resolve(session, mine, ["Photos"]), sam)
            shares.share(session, sam, files.resolve(session, theirs, ["Recettes"]), alex)
    finally:
        node.close()


def _listed(client: httpx.Client) -> str:
    found = client.request("PROPFIND", "/dav/files/shared/", headers={"Depth": "1"})
    assert found.status_code == 207, found.text
    return found.text


def test_shares_follow_a_real_move(tmp_path: Path) -> None:
    rule = {"B": {"HAMEAU_MOVING_ACCEPT_FROM": "A"}}
    with hamlet(tmp_path, names=("A", "B"), pairs=(("B", "A"),), env=rule) as homes:
        a, b = homes["A"], homes["B"]
        _furnish(a.data_dir)
        sam_token, alex_token = app_password(a.data_dir, "sam"), app_password(a.data_dir, "alex")
        sam = httpx.Client(base_url=a.url, auth=("sam", sam_token), verify=a.verify, timeout=30)
        with sam:
            assert "Photos" in _listed(sam)
            assert sam.get("/dav/files/shared/Photos/mer.jpg").content == PHOTO
            moved = a.run("move", "alex", "--to", "B")
            assert moved.returncode == 0, moved.stderr + moved.stdout

            assert "Photos" not in _listed(sam)
            assert sam.get("/dav/files/shared/Photos/mer.jpg").status_code == 404
            cookie = login_cookie(a.url, "sam", PASSWORD, verify=a.verify)
            page = httpx.get(
                a.url + "/files/shared/", cookies={"hameau_session": cookie}, verify=a.verify,
                headers={"Accept-Language": "en"},
            )  # fmt: skip
            assert page.status_code == 200
            text = " ".join(page.text.split())
            assert "Photos, shared by Alex, now lives at their new home:" in text, text
            assert f'href="{b.url}' in page.text
            # What Sam shared with Alex stays Sam's, at the old home.
            assert sam.get("/dav/files/mine/Recettes/tarte.txt").content == RECIPE

        alex_at_b = httpx.Client(
            base_url=b.url, auth=("alex", alex_token), verify=b.verify, timeout=30
        )
        with alex_at_b:
            assert alex_at_b.get("/dav/files/mine/Photos/mer.jpg").content == PHOTO
            # Across homes there is no share: Sam's recipes are not listed at Alex's new home.
            assert "Recettes" not in _listed(alex_at_b)
        old_alex = httpx.get(
            a.url + "/dav/files/shared/Recettes/tarte.txt", auth=("alex", alex_token),
            verify=a.verify, follow_redirects=False,
        )  # fmt: skip
        assert old_alex.status_code == 308  # Alex's credentials now lead to the new home
