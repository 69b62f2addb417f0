"""The doors of a member who moved or is moving, through the node's own pages and JSON APIs:
a frozen member's writes refused (503, Retry-After, one sentence, nothing written), reads
going on; a moved member's sessions, app passwords and login forwarded to their new home."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from hameau.accounts import members, tokens
from hameau.moving import doors
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import PASSWORD, add_member, browser, csrf, csrf_header, log_in, post_form

NEW_HOME = "https://chez-nous.example:8443"


def _set(node: Node, name: str, change: str) -> None:
    with transaction(node.sessions) as session:
        member = members.find_member(session, name)
        if change == "freeze":
            doors.freeze(session, member)
        elif change == "moved":
            doors.mark_moved(session, member, NEW_HOME + "/")
        else:
            doors.mark_home(session, member)


def _token(node: Node, name: str) -> str:
    with transaction(node.sessions) as session:
        return tokens.create_token(session, members.find_member(session, name), "test")[1]


def _note(client: TestClient) -> int:
    made = post_form(client, "/notes", "/notes")
    assert made.status_code == 303
    return int(made.headers["location"].rsplit("/", 1)[1])


def _refused_as_frozen(answer, french: bool = False) -> None:  # type: ignore[no-untyped-def]
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "60"
    sentence = "Vos affaires déménagent vers un autre foyer" if french else "Your things are moving"
    assert sentence in answer.text


def test_a_frozen_members_note_edit_and_message_are_refused_and_nothing_changes(
    node: Node,
) -> None:
    add_member(node, "alex")
    add_member(node, "sam")
    alex, sam = browser(node), browser(node)
    alex.headers["Accept-Language"] = "en"
    log_in(alex, "alex")
    log_in(sam, "sam")
    note = _note(alex)
    headers = csrf_header(alex)
    alex.put(f"/api/notes/{note}", json={"base": 0, "text": "Avant\n"}, headers=headers)
    before = alex.get(f"/api/notes/{note}").json()
    page = alex.get("/messages").text
    _set(node, "alex", "freeze")

    edit = alex.put(f"/api/notes/{note}", json={"base": 0, "text": "Après\n"}, headers=headers)
    _refused_as_frozen(edit)
    form = alex.post(
        f"/notes/{note}", data={"text": "Après", "base": "0", "csrf_token": csrf(page)}
    )
    _refused_as_frozen(form)
    message = alex.post(
        "/messages",
        data={"subject": "Hop", "body": "Coucou", "to": "sam", "csrf_token": csrf(page)},
        headers={"Accept-Language": "fr"},
    )
    _refused_as_frozen(message, french=True)
    # Nothing was written; reads go on; another member's writes too.
    assert alex.get(f"/api/notes/{note}").json() == before
    assert alex.get("/messages").status_code == 200
    assert "Hop" not in sam.get("/messages").text
    assert post_form(sam, "/notes", "/notes").status_code == 303
    assert alex.post("/search", data={"q": "Avant", "csrf_token": csrf(page)}).status_code == 200


def test_a_frozen_members_api_writes_wait_and_go_on_once_unfrozen(node: Node) -> None:
    add_member(node, "alex")
    secret = _token(node, "alex")
    client = browser(node)
    client.headers["Accept-Language"] = "en"
    auth = {"Authorization": f"Bearer {secret}"}
    assert client.put("/api/files/mine/a.txt", content=b"one", headers=auth).status_code == 201
    _set(node, "alex", "freeze")
    _refused_as_frozen(client.put("/api/files/mine/a.txt", content=b"two", headers=auth))
    _refused_as_frozen(client.delete("/api/files/mine/a.txt", headers=auth))
    assert client.get("/api/files/mine/a.txt", headers=auth).content == b"one"
    _set(node, "alex", "home")
    assert client.put("/api/files/mine/a.txt", content=b"two", headers=auth).status_code == 201
    assert client.get("/api/files/mine/a.txt", headers=auth).content == b"two"


def test_a_moved_members_session_and_app_password_are_forwarded(node: Node) -> None:
    add_member(node, "alex")
    add_member(node, "sam")
    secret = _token(node, "alex")
    alex, sam = browser(node), browser(node)
    log_in(alex, "alex")
    log_in(sam, "sam")
    _set(node, "alex", "moved")

    page = alex.get("/files/mine?view=list")
    assert page.status_code == 308
    assert page.headers["location"] == f"{NEW_HOME}/files/mine?view=list"
    accented = alex.get("/files/mine/Été/")
    assert accented.headers["location"] == f"{NEW_HOME}/files/mine/%C3%89t%C3%A9/"
    api = browser(node).put(
        "/api/files/mine/a.txt", content=b"x", headers={"Authorization": f"Bearer {secret}"}
    )
    assert api.status_code == 308
    assert api.headers["location"] == f"{NEW_HOME}/api/files/mine/a.txt"
    assert api.headers["hameau-moved-to"] == NEW_HOME
    assert NEW_HOME in api.json()["error"]
    # Those who stay are not forwarded.
    assert sam.get("/").status_code == 200


def test_a_moved_members_login_opens_no_session_and_says_where_home_is(node: Node) -> None:
    add_member(node, "alex")
    _set(node, "alex", "moved")
    client = browser(node)
    answer = log_in(client, "alex")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{NEW_HOME}/login"
    assert "hameau_session" not in client.cookies
    # A wrong password learns nothing.
    wrong = log_in(browser(node), "alex", password=PASSWORD + "x")
    assert wrong.status_code == 401
    assert NEW_HOME not in wrong.text


def test_what_a_moved_member_shared_says_where_it_lives_now(node: Node) -> None:
    from hameau.files import service as files
    from hameau.files import shares
    from tests.travel.sides import write

    add_member(node, "alex")
    add_member(node, "sam")
    write(node, "Photos/plage.jpg", b"picture", member="alex")
    with transaction(node.sessions) as session:
        alex, sam = members.find_member(session, "alex"), members.find_member(session, "sam")
        photos = files.resolve(session, files.space(alex, "mine"), ["Photos"])
        shares.share(session, alex, photos, sam)
    sam_browser = browser(node)
    sam_browser.headers["Accept-Language"] = "en"
    log_in(sam_browser, "sam")
    assert "Photos" in sam_browser.get("/files/shared/").text
    _set(node, "alex", "moved")
    page = sam_browser.get("/files/shared/")
    assert page.status_code == 200
    assert "Photos, shared by Alex, now lives at their new home:" in page.text, page.text
    assert f'<a href="{NEW_HOME}">' in page.text
    # Not listed as readable here any more (WebDAV's shared/ neither).
    with node.sessions() as session:
        assert shares.shared_with(session, members.find_member(session, "sam")) == []


def test_the_admins_page_shows_moved_members_apart_and_pickers_leave_them_out(
    node: Node,
) -> None:
    add_member(node, "root", admin=True)
    add_member(node, "alex")
    add_member(node, "sam")
    _set(node, "alex", "moved")
    admin = browser(node)
    admin.headers["Accept-Language"] = "en"
    log_in(admin, "root")
    page = admin.get("/admin/members").text
    assert 'id="member-alex"' not in page and 'id="member-sam"' in page
    moved = page.split('id="moved-alex"')[1].split("</li>")[0]
    assert f'moved to <a href="{NEW_HOME}">' in moved and "copy kept until" in moved
    with node.sessions() as session:
        living = [m.name for m in members.list_members(session, active_only=True)]
    assert living == ["root", "sam"]


def test_the_ais_api_and_a_satellites_enrolment_are_doors_too(node: Node) -> None:
    add_member(node, "alex")
    secret = _token(node, "alex")
    client = browser(node)
    client.headers["Accept-Language"] = "en"
    auth = {"Authorization": f"Bearer {secret}"}
    question = {"model": "any", "messages": [{"role": "user", "content": "Bonjour ?"}]}
    _set(node, "alex", "freeze")
    held = client.post("/v1/chat/completions", json=question, headers=auth)
    assert held.status_code == 503 and held.headers["retry-after"] == "60"
    assert held.json()["error"]["message"].startswith("Your things are moving")  # OpenAI's shape
    assert client.get("/v1/models", headers=auth).status_code == 200  # a read
    _set(node, "alex", "moved")
    moved = client.post("/v1/chat/completions", json=question, headers=auth)
    assert moved.status_code == 308
    assert moved.headers["location"] == f"{NEW_HOME}/v1/chat/completions"
    # Packing a satellite at the old home: sent to the new one, the body kept (308).
    pack = client.post(
        "/api/travel/satellites", json={"member": "alex", "password": PASSWORD, "takes": []}
    )
    assert pack.status_code == 308
    assert pack.headers["location"] == f"{NEW_HOME}/api/travel/satellites"


def test_a_write_whose_member_froze_while_it_ran_is_not_acknowledged(node: Node) -> None:
    """A write that passed the door as `hameau move` froze its member may commit after the
    move's last export read: it is answered 503, not 200, so the client sends it again at the
    new home instead of its being lost (CI once saw an acknowledged PUT missing there). The
    same write, its member staying home, is answered as usual."""
    from sqlalchemy import event

    add_member(node, "alex")
    alex = browser(node)
    alex.headers["Accept-Language"] = "en"
    log_in(alex, "alex")
    note = _note(alex)
    freezing = {"armed": True}

    def the_move_freezes(_session: Any) -> None:  # right after the write's commit
        if freezing["armed"]:
            freezing["armed"] = False
            _set(node, "alex", "freeze")  # committed by another connection

    headers = csrf_header(alex)  # its page's commit comes before the move's
    event.listen(node.sessions, "after_commit", the_move_freezes)
    edit = alex.put(f"/api/notes/{note}", json={"base": 0, "text": "Pendant\n"}, headers=headers)
    assert not freezing["armed"]  # the freeze came right after the edit's commit
    _refused_as_frozen(edit)
    event.remove(node.sessions, "after_commit", the_move_freezes)
    _set(node, "alex", "home")
    # It was written here all the same (a client that sends it again merges with it): what
    # is refused is only saying so.
    now = alex.get(f"/api/notes/{note}").json()
    assert now["text"] == "Pendant\n"
    again = alex.put(f"/api/notes/{note}", json={"base": now["revision"], "text": "Après\n"},
                     headers=csrf_header(alex))  # fmt: skip
    assert again.status_code == 200 and again.json()["text"] == "Après\n"


def test_a_satellites_enrolment_nested_past_pythons_stack_is_refused_not_a_500(
    node: Node,
) -> None:
    """The door reads an enrolment's body for the member it names (one moved away is sent
    on): a hostile body is the enrolment route's to refuse, in words."""
    add_member(node, "alex")
    _set(node, "alex", "moved")
    nested = b"[" * 100_000 + b"]" * 100_000
    answer = browser(node).post(
        doors.ENROL, content=nested, headers={"Content-Type": "application/json"}
    )
    assert 400 <= answer.status_code < 500 and answer.json()["error"], answer.text
