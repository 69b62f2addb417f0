"""Live updates of a conversation over server-sent events, on a real server."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.served import login_cookie, serve
from tests.helpers import PASSWORD, add_member, make_node

pytestmark = pytest.mark.e2e


def _alex_and_sam(tmp_path: Path) -> Path:
    node = make_node(tmp_path / "n")
    add_member(node, "alex")
    add_member(node, "sam")
    node.close()
    return tmp_path / "n"


def _logged_in(served: Any, name: str) -> httpx.Client:
    cookie = login_cookie(served.url, name, PASSWORD)
    return httpx.Client(base_url=served.url, cookies={"hameau_session": cookie})


def test_a_reply_reaches_the_open_conversation_at_once(tmp_path: Path) -> None:
    with serve(_alex_and_sam(tmp_path)) as served:
        alex, sam = _logged_in(served, "alex"), _logged_in(served, "sam")
        token = re.search(r'name="csrf_token" value="([^"]+)"', alex.get("/messages").text).group(1)  # type: ignore[union-attr]
        started = alex.post(
            "/messages",
            data={
                "csrf_token": token,
                "subject": "Ce soir",
                "body": "On mange à 20 h ?",
                "to": "sam",
            },
        )
        thread = started.headers["location"]
        received: list[str] = []
        listening = threading.Event()

        def listen() -> None:
            with sam.stream("GET", f"{thread}/events", timeout=20) as stream:
                for line in stream.iter_lines():
                    if line.startswith("retry:"):
                        listening.set()
                    if line.startswith("data:"):
                        received.append(line)
                        if len(received) == 2:
                            return

        reader = threading.Thread(target=listen, daemon=True)
        reader.start()
        assert listening.wait(10)
        reply_token = re.search(r'name="csrf_token" value="([^"]+)"', alex.get(thread).text).group(
            1
        )  # type: ignore[union-attr]
        assert (
            alex.post(thread, data={"csrf_token": reply_token, "body": "Oui, 20 h !"}).status_code
            == 303
        )
        reader.join(15)
        assert len(received) == 2, received
        assert "On mange" in received[0] and "Oui, 20 h !" in received[1]


def test_an_opened_conversation_streams_only_what_its_page_does_not_show(tmp_path: Path) -> None:
    """The page names its last message in its events' address: a long conversation is not
    sent again over the stream each time it is opened, and a reply posted between the page
    and the stream's start still arrives."""
    with serve(_alex_and_sam(tmp_path)) as served:
        alex = _logged_in(served, "alex")
        token = re.search(r'name="csrf_token" value="([^"]+)"', alex.get("/messages").text)
        assert token is not None
        thread = alex.post(
            "/messages",
            data={
                "csrf_token": token.group(1),
                "subject": "Courses",
                "body": "Du pain",
                "to": "sam",
            },
        ).headers["location"]
        for body in ("Des œufs", "Du lait"):
            alex.post(thread, data={"csrf_token": token.group(1), "body": body})
        page = alex.get(thread).text
        address = re.search(r'data-events="([^"]+)"', page)
        assert address is not None and "after=" in address.group(1)
        alex.post(thread, data={"csrf_token": token.group(1), "body": "Et du beurre"})
        received: list[str] = []
        with alex.stream("GET", address.group(1).replace("&amp;", "&"), timeout=20) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    received.append(line)
                    break
        assert len(received) == 1 and "Et du beurre" in received[0], received
