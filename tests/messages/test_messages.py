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
