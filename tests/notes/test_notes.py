"""Notes: saved before acknowledged, concurrent edits merged, Markdown made inert, searchable."""

from __future__ import annotations

from html.parser import HTMLParser

from hameau.accounts import members
from hameau.node.datadir import Node
from hameau.notes import service as notes_service
from tests.helpers import (
    add_member,
    browser,
    csrf_header,
    log_in,
    members_logged_in,
    once_after,
    post_form,
)


def new_note(client) -> int:  # type: ignore[no-untyped-def]
    made = post_form(client, "/notes", "/notes")
    assert made.status_code == 303
    return int(made.headers["location"].rsplit("/", 1)[1])


def test_concurrent_edits_from_two_browsers_both_survive(node: Node) -> None:
    add_member(node, "alex")
    first, second = browser(node), browser(node)
    log_in(first, "alex")
    log_in(second, "alex")
    note = new_note(first)
    headers = csrf_header(first)
    saved = first.put(
        f"/api/notes/{note}", json={"base": 0, "text": "Courses\n\n- pain\n"}, headers=headers
    ).json()
    base = saved["revision"]
    # Both browsers start from the same revision and edit different lines.
    one = first.put(
        f"/api/notes/{note}",
        json={"base": base, "text": "Courses\n\n- pain\n- lait\n"},
        headers=headers,
    )
    two = second.put(
        f"/api/notes/{note}",
        json={"base": base, "text": "Courses de la semaine\n\n- pain\n"},
        headers=csrf_header(second),
    )
    assert one.status_code == two.status_code == 200
    merged = second.get(f"/api/notes/{note}").json()
    assert merged["text"] == "Courses de la semaine\n\n- pain\n- lait\n"
    assert merged["title"] == "Courses de la semaine"
    # An edit made long ago, from an old revision, merges too instead of overwriting.
    late = first.put(
        f"/api/notes/{note}", json={"base": 0, "text": "Liste\n"}, headers=headers
    ).json()
    assert "Liste" in late["text"] and "lait" in late["text"]


def test_edits_of_accented_text_land_where_they_were_made(node: Node) -> None:
    """The CRDT counts positions in UTF-8 bytes; an edit after "é" or "😀" must not slip."""
    add_member(node, "alex")
    client = browser(node)
    log_in(client, "alex")
    note = new_note(client)
    headers = csrf_header(client)
    texts = ["Gardée\n", "Gardée\nmodifiée 😀 ici\n", "Gardée à l'été\nmodifiée 😀 là\nfin\n"]
    revision = 0
    for text in texts:
        saved = client.put(
            f"/api/notes/{note}", json={"base": revision, "text": text}, headers=headers
        )
        assert saved.json()["text"] == text
        revision = saved.json()["revision"]
    assert client.get(f"/api/notes/{note}").json()["text"] == texts[-1]


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def inert(html: str) -> bool:
    """No element or attribute in this HTML can run code."""
    parser = Elements()
    parser.feed(html)
    for tag, attrs in parser.found:
        if tag in ("script", "iframe", "object", "embed", "style", "form"):
            return False
        for name, value in attrs:
            if name.startswith("on"):
                return False
            if name in ("href", "src") and (value or "").strip().lower().startswith(
                ("javascript:", "data:", "vbscript:")
            ):
                return False
    return True


def test_markdown_renders_inert(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    log_in(client, "alex")
    note = new_note(client)
    hostile = (
        "# Titre\n\n<script>alert(1)</script>\n\n[clic](javascript:alert(1)) "
        "[data](data:text/html,<b>x</b>) <img src=x onerror=alert(1)>\n\n"
        '<a href="javascript:alert(1)">raw</a> [ok](https://example.org)\n'
    )
    saved = client.put(
        f"/api/notes/{note}", json={"base": 0, "text": hostile}, headers=csrf_header(client)
    ).json()
    html = saved["html"]
    assert inert(html)
    assert 'href="https://example.org"' in html and "<h1>Titre</h1>" in html
    page = client.get(f"/notes/{note}").text
    preview = page.split('id="preview"')[1].split("</article>")[0]
    assert inert(preview.split(">", 1)[1])


def test_a_huge_table_is_shown_as_text_and_a_small_one_as_a_table(node: Node) -> None:
    """A table's cells are the costly part of Markdown (some 17 µs each: a 1 MB note of
    5,000-column rows, as a satellite's sync may bring, took 9 s to render at each save and
    view, on the household's one node): past `TABLE_PIPES` bars, tables are shown as text."""
    add_member(node, "alex")
    client = browser(node)
    log_in(client, "alex")
    note = new_note(client)
    small = "| Légume | Mois |\n| --- | --- |\n| Radis | mars |\n"
    saved = client.put(
        f"/api/notes/{note}", json={"base": 0, "text": small}, headers=csrf_header(client)
    ).json()
    assert "<table>" in saved["html"] and "<td>Radis</td>" in saved["html"]
    huge = "|a" * 1000 + "\n" + "|-" * 1000 + "\n" + ("|x" * 1000 + "\n") * 28  # 60 kB
    assert huge.count("|") > notes_service.TABLE_PIPES
    revision = saved["revision"]
    saved = client.put(
        f"/api/notes/{note}", json={"base": revision, "text": huge}, headers=csrf_header(client)
    ).json()
    assert "<table>" not in saved["html"] and saved["html"].startswith("<p>|a|a")


def test_search_finds_notes_and_text_files_of_the_member_only(any_node: Node) -> None:
    node = any_node  # on SQLite (FTS5) and on PostgreSQL (its full-text search)
    alex, sam = members_logged_in(node, "alex", "sam")
    note = new_note(alex)
    alex.put(
        f"/api/notes/{note}",
        json={"base": 0, "text": "Recette de la tarte aux pommes\n"},
        headers=csrf_header(alex),
    )
    alex.put(
        "/api/files/mine/jardin.md",
        content=b"Planter les tomates en mai",
        headers=csrf_header(alex),
    )
    sam.put("/api/files/household/menu.txt", content=b"tarte le dimanche", headers=csrf_header(sam))

    found = alex.get("/search", params={"q": "tarte"}).text
    assert "Recette de la tarte aux pommes" in found and "menu.txt" in found
    assert "jardin.md" in alex.get("/search", params={"q": "tomate"}).text  # prefix match
    assert "Recette" not in sam.get("/search", params={"q": "tarte"}).text
    assert "jardin.md" not in sam.get("/search", params={"q": "tomates"}).text
    # Updated incrementally: a new version replaces the old text; a deleted file leaves the index.
    alex.put(
        "/api/files/mine/jardin.md", content=b"Planter les courgettes", headers=csrf_header(alex)
    )
    assert "jardin.md" not in alex.get("/search", params={"q": "tomates"}).text
    assert "jardin.md" in alex.get("/search", params={"q": "courgettes"}).text
    alex.delete("/api/files/mine/jardin.md", headers=csrf_header(alex))
    assert "jardin.md" not in alex.get("/search", params={"q": "courgettes"}).text
    for hostile in ('"', "NEAR(", "*", "tarte OR", "-x"):
        assert alex.get("/search", params={"q": hostile}).status_code == 200


def test_a_member_cannot_open_another_members_note(node: Node) -> None:
    alex, sam = members_logged_in(node, "alex", "sam")
    note = new_note(alex)
    assert sam.get(f"/notes/{note}").status_code == 404
    assert sam.get(f"/api/notes/{note}").status_code == 404
    assert (
        sam.put(
            f"/api/notes/{note}", json={"base": 0, "text": "x"}, headers=csrf_header(sam)
        ).status_code
        == 404
    )


def test_an_editor_is_never_given_a_revision_its_text_lacks(node: Node) -> None:
    """Another device's save commits while a note is being read: the reader gets the text
    and revision of one moment, so its next save, made from that revision, keeps that
    other edit instead of undoing it."""
    add_member(node, "alex")
    client = browser(node)
    log_in(client, "alex")
    note = new_note(client)
    headers = csrf_header(client)
    base = client.put(
        f"/api/notes/{note}", json={"base": 0, "text": "Courses\n\n- pain\n"}, headers=headers
    ).json()["revision"]

    def other_device_saves() -> None:
        with node.sessions() as session, session.begin():
            alex = members.find_member(session, "alex")
            held = notes_service.get(session, alex, note)
            notes_service.save(session, alex, held, base, "Courses de la semaine\n\n- pain\n")

    def reads_log(sql: str) -> bool:
        return "FROM note_updates" in sql

    with once_after(node.engine, reads_log, other_device_saves) as other:
        read = client.get(f"/api/notes/{note}").json()
    assert other, "the note was never read"
    edited = read["text"].replace("- pain\n", "- pain\n- lait\n")
    saved = client.put(
        f"/api/notes/{note}", json={"base": read["revision"], "text": edited}, headers=headers
    )
    assert saved.status_code == 200
    assert saved.json()["text"] == "Courses de la semaine\n\n- pain\n- lait\n"
