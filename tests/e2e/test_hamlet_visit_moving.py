"""A visit from the hamlet is a door too (real paired nodes): a member whose things are moving
has her relayed writes refused (503, nothing written) while her reads go on; once she moved,
her relayed requests are sent to her new home, and signing in for a new visit at the old home
says where her home is now."""

from __future__ import annotations

import pytest

from tests.e2e.hamlet_nodes import hamlet
from tests.e2e.test_hamlet_visit_home import SignIn, cli, csrf_of, relayed, sign_in, visit
from tests.e2e.test_moving_doors import set_home
from tests.helpers import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:EdDSA is deprecated")]
NEW_HOME = "https://ailleurs.example"


def test_a_visit_of_a_member_moving_then_moved(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with hamlet(tmp_path, names=("A", "B"), pairs=(("B", "A"),)) as homes:
        a, b = homes["A"], homes["B"]
        made = cli(a, "member", "add", "ana", "--password-stdin", stdin=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
        access = visit(a, b)
        page = relayed(b, a, access)
        assert page.status_code == 200, page.text
        headers = {"X-CSRF-Token": csrf_of(page.text), "Content-Type": "text/plain"}
        set_home(a.data_dir, "ana", "freeze")

        put = relayed(
            b, a, access, "PUT", "/api/files/mine/hello.txt", content=b"hi", headers=headers
        )
        assert put.status_code == 503 and put.headers["retry-after"] == "60"
        assert put.json()["error"] == (
            "Your things are moving to another home; try again in a minute."
        )
        listing = relayed(b, a, access)
        assert listing.status_code == 200 and "hello.txt" not in listing.text

        set_home(a.data_dir, "ana", "moved", NEW_HOME)
        moved = relayed(b, a, access, "GET", "/files/mine/?view=list")
        assert moved.status_code == 308
        assert moved.headers["location"] == f"{NEW_HOME}/files/mine/?view=list"
        signing_in = SignIn.new(b)
        again = sign_in(a, signing_in)
        assert again.status_code == 403
        assert f"Your home is now the home server at {NEW_HOME}: sign in there." in again.text
