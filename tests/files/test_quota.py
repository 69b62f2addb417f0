"""The quota counter: every way a member's bytes change keeps it equal to a full recount of
their rows (files, versions, trash, WebDAV properties), and `hameau check` finds and repairs
a wrong one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import text, update

from hameau.accounts import members
from hameau.files import purge, quota, retention
from hameau.files import service as files
from hameau.files.models import FileEntry
from hameau.node.datadir import Node
from hameau.node.db import transaction, utcnow
from tests.files.test_http import token
from tests.helpers import add_member, browser
from tests.node.test_cli import hameau
from tests.travel.sides import home_node, pack, write

PROPPATCH = (
    b'<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z">'
    b"<D:set><D:prop><Z:colour>a rather long blue, for the quota</Z:colour></D:prop></D:set>"
    b"</D:propertyupdate>"
)


def counted(node: Node) -> dict[str, int]:
    """Each member's counter, checked against the sum of their rows."""
    found = {}
    with transaction(node.sessions) as session:
        for member in members.list_members(session):
            kept, summed = quota.usage(session, member.id), quota.recount(session, member.id)
            assert kept == summed, f"{member.name}: counter {kept}, rows {summed}"
            found[member.name] = kept
    return found


def test_the_counter_follows_every_kind_of_change(node: Node) -> None:
    add_member(node, "alex")
    add_member(node, "sam", admin=True)
    client, alex, sam = browser(node), token(node, "alex"), token(node, "sam")
    secret = alex["Authorization"].split()[1]

    def put(auth: dict[str, str], path: str, data: bytes) -> None:
        assert client.put(f"/api/files/{path}", content=data, headers=auth).status_code == 201

    put(alex, "mine/a.bin", b"a" * 1000)
    assert counted(node)["alex"] == 1000
    for size in range(1, 13):  # twelve overwrites: versions kept, the oldest pruned
        put(alex, "mine/a.bin", bytes([size]) * (100 * size))
    put(alex, "household/h.txt", b"household notes")
    put(sam, "household/h.txt", b"sam's notes")  # charged to sam now; alex keeps the version
    counted(node)

    dav = {"auth": ("alex", secret)}
    assert client.put("/dav/files/mine/d.bin", content=b"d" * 700, **dav).status_code == 201
    answer = client.request("PROPPATCH", "/dav/files/mine/d.bin", content=PROPPATCH, **dav)
    assert answer.status_code == 207
    copied = {"Destination": "http://testserver/dav/files/mine/copy.bin"}
    assert client.request("COPY", "/dav/files/mine/d.bin", headers=copied, **dav).status_code in (
        201,
        204,
    )
    moved = {"Destination": "http://testserver/dav/files/household/d.bin"}
    assert client.request("MOVE", "/dav/files/mine/d.bin", headers=moved, **dav).status_code in (
        201,
        204,
    )
    assert client.request("DELETE", "/dav/files/mine/copy.bin", **dav).status_code == 204
    counted(node)

    assert client.post("/api/files/folders", json={"space": "mine", "path": "album"}, headers=alex)
    for number in range(5):
        put(alex, f"mine/album/p{number}.jpg", b"p" * (50 + number))
    assert client.delete("/api/files/mine/album", headers=alex).status_code == 204
    assert client.delete("/api/files/mine/a.bin", headers=alex).status_code == 204
    items = {i["name"]: i["id"] for i in client.get("/api/trash", headers=alex).json()["items"]}
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        files.restore(session, member, items["a.bin"])
    counted(node)
    assert client.delete(f"/api/trash/{items['album']}", headers=alex).status_code == 200
    assert client.delete("/api/trash", headers=alex).status_code == 200
    counted(node)

    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        _, entry = files.locate(session, member, "mine", "a.bin")
        oldest = retention.versions(session, entry)[-1]
        files.restore_version(session, member, entry, oldest.id, node.blobs)
    counted(node)
    with transaction(node.sessions) as session:
        purge.purge_versions(session, members.find_member(session, "sam").id, node.blobs)
    assert client.delete("/api/files/household/d.bin", headers=alex).status_code == 204
    with transaction(node.sessions) as session:  # thirty-one days later
        old = utcnow() - timedelta(days=retention.TRASH_DAYS + 1)
        session.execute(update(FileEntry).where(FileEntry.deleted_at.is_not(None)).values(
            deleted_at=old))  # fmt: skip
    assert client.get("/api/trash", headers=alex).status_code == 200  # the sweep runs
    final = counted(node)
    assert final["alex"] > 0 and final["sam"] == len(b"sam's notes")


def test_a_satellites_sync_keeps_the_counter_on_both_sides(tmp_path: Path) -> None:
    home = home_node(tmp_path / "home")
    for number in range(30):  # an initial pack records these in bulk on the satellite
        write(home, f"Voyage/{number}.txt", f"file {number}".encode() * (number + 1))
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    write(pair.sat, "Voyage/0.txt", b"changed away, and longer than it was")
    write(home, "Voyage/1.txt", b"changed at home")
    assert pair.sync().complete
    assert counted(home)["alex"] > 0
    assert counted(pair.sat)["alex"] > 0


def test_check_finds_a_wrong_counter_and_a_lost_trigger_and_repair_sets_them(
    any_node: Node,
) -> None:
    node = any_node  # the triggers are SQLite's or PostgreSQL's
    on = " ON file_versions" if node.engine.dialect.name == "postgresql" else ""
    add_member(node, "alex")
    client, alex = browser(node), token(node, "alex")
    assert client.put("/api/files/mine/a.bin", content=b"a" * 5000, headers=alex).status_code == 201
    root = node.layout.root
    assert hameau("check", data_dir=root).returncode == 0
    with transaction(node.sessions) as session:
        session.execute(text("UPDATE file_usage SET bytes = 12"))
        session.execute(text(f"DROP TRIGGER usage_file_versions_insert{on}"))
    node.close()

    found = hameau("check", data_dir=root)
    assert found.returncode == 1
    assert "alex's quota counter says 12 bytes used, their files hold 5,000." in found.stdout
    assert "1 of the triggers that keep the quota counters are missing" in found.stdout

    repaired = hameau("check", "--repair", data_dir=root)
    assert "1 quota counter(s) set to the sum of the files." in repaired.stdout
    assert "1 quota trigger(s) made again." in repaired.stdout
    assert hameau("check", data_dir=root).returncode == 0


def test_upgrading_a_node_counts_what_its_members_already_hold(node: Node) -> None:
    from alembic import command

    from hameau.node import migrate

    add_member(node, "alex")
    client, alex = browser(node), token(node, "alex")
    for number in range(3):
        put = client.put("/api/files/mine/a.bin", content=b"x" * (100 + number), headers=alex)
        assert put.status_code == 201
    config = migrate.alembic_config(node.engine.url.render_as_string(hide_password=False))
    with node.engine.begin() as connection:  # the node as it was before revision 0011
        config.attributes["connection"] = connection
        command.downgrade(config, "0010")
    assert migrate.upgrade(node.engine)
    assert counted(node)["alex"] == 100 + 101 + 102


def test_a_migration_of_the_members_table_keeps_what_refers_to_members(node: Node) -> None:
    """Down to the revision before the members' home columns, then up again: the files, the
    counter and the app password are still there (a table rebuilt by batch mode would have
    dropped `members`, deleting by cascade every row that refers to a member)."""
    from alembic import command

    from hameau.node import migrate

    add_member(node, "alex")
    client, alex = browser(node), token(node, "alex")
    assert client.put("/api/files/mine/a.bin", content=b"x" * 100, headers=alex).status_code == 201
    config = migrate.alembic_config(node.engine.url.render_as_string(hide_password=False))
    with node.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0017")
    assert migrate.upgrade(node.engine)
    assert counted(node)["alex"] == 100
    assert client.get("/api/files/mine/a.bin", headers=alex).content == b"x" * 100
