"""Messages between members: only participants see a thread; unread counts follow reading."""

from __future__ import annotations

from hameau.node.datadir import Node
from tests.helpers import add_member, browser, log_in, post_form


def test_a_conversation_is_seen_by_its_participants_only_with_unread_counts(node: Node) -> None:
    for name in ("alex", "sam", "louise"):
        add_member(node, name)
    alex, sam, louise = browser(node), browser(node), browser(node)
    for client, name in ((alex, "alex"), (sam, "sam"), (louise, "louise")):
        log_in(client, name)
    page = alex.get("/messages").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    started = alex.post(
        "/messages",
        data={
            "csrf_token": token,
            "subject": "Vélo",
            "body": "Qui emprunte le vélo samedi ?",
            "to": ["sam"],
        },
    )
    assert started.status_code == 303
    thread = started.headers["location"]
    inbox = sam.get("/messages").text
    assert "Vélo" in inbox and 'class="badge"' in inbox
    assert "Qui emprunte le vélo samedi ?" in sam.get(thread).text
    assert 'class="badge"' not in sam.get("/messages").text  # read now
    assert louise.get(thread).status_code == 404
    assert "Vélo" not in louise.get("/messages").text
    assert post_form(louise, "/messages", thread, body="intrusion").status_code == 404
    assert post_form(sam, thread, thread, body="Moi !").status_code == 303
    assert 'class="badge"' in alex.get("/messages").text


def test_messages_are_text_not_markup(node: Node) -> None:
    add_member(node, "alex")
    add_member(node, "sam")
    alex = browser(node)
    log_in(alex, "alex")
    token = alex.get("/messages").text.split('name="csrf_token" value="')[1].split('"')[0]
    started = alex.post(
        "/messages",
        data={
            "csrf_token": token,
            "subject": "<b>x</b>",
            "body": "<script>alert(1)</script>",
            "to": ["sam"],
        },
    )
    page = alex.get(started.headers["location"]).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_a_long_conversation_is_shown_a_hundred_messages_at_a_time(node: Node) -> None:
    """A household's everyday conversation grows for years: its page shows the last hundred
    messages, with a link to the ones before, and each message is on exactly one page."""
    import re

    from hameau.messages import service as threads
    from hameau.node.db import transaction

    add_member(node, "alex")
    add_member(node, "sam")
    with transaction(node.sessions) as session:
        from hameau.accounts.members import find_member

        alex, sam = find_member(session, "alex"), find_member(session, "sam")
        thread = threads.start(session, alex, [sam], "Courses", "message 0")
        for number in range(1, 250):
            threads.post(session, alex if number % 2 else sam, thread, f"message {number}")
        address = f"/messages/{thread.id}"
    client = browser(node)
    log_in(client, "sam")
    seen: list[int] = []
    page = client.get(address).text
    assert "data-events=" in page and 'id="reply"' in page  # the latest page is the live one
    pages = 1
    while True:
        shown = [int(n) for n in re.findall(r"<p>message (\d+)</p>", page)]
        assert len(shown) <= threads.PAGE and shown == sorted(shown)
        seen = shown + seen
        earlier = re.search(r'href="(/messages/\d+\?before=\d+)">Messages précédents', page)
        if earlier is None:
            break
        page = client.get(earlier.group(1)).text
        pages += 1
        assert (
            "data-events=" not in page and 'id="reply"' not in page and "Derniers messages" in page
        )
    assert seen == list(range(250)) and pages == 3
    assert client.get(address, params={"before": 2**64}).status_code == 422
