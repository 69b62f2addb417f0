"""Thumbnails and previews on the Files pages, through the node's real app: small images for
photos, the generic picture (never a 500) for a decompression bomb or damaged content, text
and Markdown escaped, SVG and PDF never shown as a page of the node, another member's file
unknown (404)."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hameau.accounts import members
from hameau.files import service as files
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, csrf_header, members_logged_in

Image = pytest.importorskip("PIL.Image", reason="Pillow is a dependency: pip install -e .")


def photo(kind: str = "JPEG", size: tuple[int, int] = (1600, 1200)) -> bytes:
    image = Image.new("RGB", size, (200, 120, 40))
    for x in range(0, size[0], 50):  # some detail, so that it is not all one colour
        image.paste((30, 90, 160), (x, 0, x + 20, size[1]))
    out = io.BytesIO()
    image.save(out, kind)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(side: int = 40_000) -> bytes:
    """A PNG of a few kilobytes that would decode to ``side``² black pixels (1.6 gigapixels)."""
    packer, row = zlib.compressobj(9), b"\0" * (1 + side // 8)  # filter byte, 1 bit a pixel
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def put(client: TestClient, path: str, body: bytes, kind: str = "") -> int:
    headers = {**csrf_header(client), "Accept": "application/json"}
    if kind:
        headers["Content-Type"] = kind
    answer = client.put(f"/api/files/mine/{path}", content=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def test_a_photo_gets_a_small_thumbnail_made_once_and_kept(node: Node) -> None:
    (alex,) = members_logged_in(node, "alex")
    original = photo()
    entry = put(alex, "vacances.jpg", original)
    small = alex.get(f"/files/item/{entry}/thumbnail")
    assert small.status_code == 200 and small.headers["content-type"] == "image/jpeg"
    assert len(small.content) < len(original) / 4
    assert max(Image.open(io.BytesIO(small.content)).size) <= 160
    large = alex.get(f"/files/item/{entry}/thumbnail?size=large")
    assert max(Image.open(io.BytesIO(large.content)).size) == 1280
    kept = list((node.layout.root / "cache" / "thumbnails").rglob("*.jpg"))
    assert len(kept) == 2  # named by the content's hash: the next request reads the cache
    assert alex.get(f"/files/item/{entry}/thumbnail").content == small.content
    shutil.rmtree(node.layout.root / "cache")  # the node may delete its cache at any time
    again = alex.get(f"/files/item/{entry}/thumbnail")
    assert again.status_code == 200 and again.content == small.content


def test_a_transparent_png_keeps_its_transparency(node: Node) -> None:
    (alex,) = members_logged_in(node, "alex")
    image = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    entry = put(alex, "logo.png", out.getvalue())
    answer = alex.get(f"/files/item/{entry}/thumbnail")
    assert answer.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(answer.content)).mode in ("RGBA", "LA", "P")


def test_a_decompression_bomb_gets_the_icon_and_a_sentence_not_a_500(node: Node) -> None:
    (alex,) = members_logged_in(node, "alex")
    bomb = bomb_png()
    assert len(bomb) < 1 << 20
    entry = put(alex, "bombe.png", bomb)
    for size in ("small", "large"):
        answer = alex.get(f"/files/item/{entry}/thumbnail?size={size}")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("image/svg+xml")
        assert answer.headers["x-thumbnail-refused"] == "too large"
    icon = alex.get(f"/files/item/{entry}/thumbnail?size=large").text
    assert "Trop grande pour un aperçu : téléchargez-la pour la voir." in icon
    assert alex.get("/files/mine/").status_code == 200  # the list with it still shows
    page = preview(alex.get("/files/mine/bombe.png").text)  # known now: said in words too
    assert "Trop grande pour un aperçu : téléchargez-la pour la voir." in page


def test_damaged_content_is_never_thumbnailed(node: Node) -> None:
    (alex,) = members_logged_in(node, "alex")
    entry = put(alex, "photo.png", photo("PNG", (300, 200)))
    with transaction(node.sessions) as session:
        digest = files.locate(session, members.find_member(session, "alex"), "mine", "photo.png")[
            1
        ].blob
    assert digest is not None
    stored = node.blobs.path(digest)
    stored.write_bytes(photo("PNG", (300, 200))[:-40] + b"\0" * 40)  # same size, other bytes
    answer = alex.get(f"/files/item/{entry}/thumbnail")
    assert answer.headers["x-thumbnail-refused"] == "damaged"
    assert not stored.exists()  # quarantined by the checked read
    assert not list((node.layout.root / "cache" / "thumbnails").rglob("*.jpg"))


def test_another_member_cannot_fetch_my_thumbnail_or_preview(node: Node) -> None:
    alex, sam = members_logged_in(node, "alex", "sam")
    image = put(alex, "secret.jpg", photo())
    pdf = put(alex, "contrat.pdf", b"%PDF-1.4\n%%EOF\n")
    svg = put(alex, "dessin.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>')
    for address in (
        f"/files/item/{image}/thumbnail",
        f"/files/item/{image}/thumbnail?size=large",
        f"/files/item/{svg}/thumbnail",
        f"/files/item/{pdf}/inline",
        f"/files/item/{image}",
    ):
        assert sam.get(address).status_code == 404, address
        assert alex.get(address).status_code in (200, 303), address


def preview(page: str) -> str:
    """The preview section of a file's page."""
    return page.split('<section class="preview"')[1].split("</section>")[0]


def test_text_and_markdown_previews_escape_hostile_content(node: Node) -> None:
    (alex,) = members_logged_in(node, "alex")
    hostile = (
        "# Recette\n\n<script>alert('texte')</script>\n\n[clique](javascript:alert('lien'))\n\n"
        "[aussi](JaVaScRiPt:alert(2)) <javascript:alert(3)>\n\n<img src=x onerror=alert(1)>\n\n"
        "**cuire** 35 min, [la source](https://example.org/tarte)\n"
    )
    put(alex, "recette.md", hostile.encode())
    put(alex, "recette.txt", hostile.encode())
    markdown = preview(alex.get("/files/mine/recette.md").text)
    assert "<strong>cuire</strong>" in markdown and "<h1>Recette</h1>" in markdown
    assert 'href="https://example.org/tarte"' in markdown
    assert "&lt;script&gt;alert" in markdown  # shown as text, not run
    for tag in ("<script", "<img", 'href="javascript', 'href="JaVaScRiPt', 'href="javascript'):
        assert tag not in markdown, tag
    assert markdown.count("<a ") == 1
    text = preview(alex.get("/files/mine/recette.txt").text)
    assert "&lt;script&gt;alert(&#39;texte&#39;)&lt;/script&gt;" in text
    assert "<script" not in text and "<a " not in text and "<strong>" not in text


def test_large_or_binary_text_is_not_previewed(node: Node) -> None:
    (alex,) = members_logged_in(node, "alex")
    put(alex, "journal.log", b"ligne\n" * 60_000)
    put(alex, "bizarre.txt", b"abc\0def")
    assert "Trop grand pour un aperçu ici" in alex.get("/files/mine/journal.log").text
    assert "Ce fichier n’est pas du texte" in alex.get("/files/mine/bizarre.txt").text


def test_svg_and_pdf_are_never_pages_of_the_node(node: Node) -> None:
    (alex,) = members_logged_in(node, "alex")
    drawing = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    svg = put(alex, "dessin.svg", drawing, "image/svg+xml")
    answer = alex.get(f"/files/item/{svg}/thumbnail")
    assert answer.content == drawing
    assert answer.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in answer.headers["content-security-policy"]
    pdf = put(alex, "contrat.pdf", b"%PDF-1.4\n%%EOF\n")
    answer = alex.get(f"/files/item/{pdf}/inline")
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"].startswith("inline")
    policy = answer.headers["content-security-policy"]
    assert "sandbox" in policy and "frame-ancestors 'self'" in policy
    assert answer.headers["x-frame-options"] == "SAMEORIGIN"
    assert '<iframe src="/files/item/' in alex.get("/files/mine/contrat.pdf").text
    # A text file is not sent inline, whatever it is called.
    html = put(alex, "page.html", b"<script>alert(1)</script>", "text/html")
    assert alex.get(f"/files/item/{html}/inline").status_code == 404
    assert alex.get(f"/files/item/{html}/thumbnail").status_code == 404


def test_the_list_shows_icons_by_kind_and_thumbnails_for_images(node: Node, tmp_path: Path) -> None:
    (alex,) = members_logged_in(node, "alex")
    image = put(alex, "chat.jpg", photo(size=(200, 200)))
    put(alex, "notes.txt", b"x")
    put(alex, "facture.pdf", b"%PDF-1.4\n")
    alex.post("/files/folder", data={"space": "mine", "name": "Jardin"}, headers=csrf_header(alex))
    listing = alex.get("/files/mine/").text
    assert listing.count('<symbol id="i-') >= 6  # the sprite, once
    assert f'src="/files/item/{image}/thumbnail?v=' in listing
    for icon in ("#i-folder", "#i-text", "#i-pdf"):
        assert f'<use href="{icon}">' in listing


def test_pillow_is_imported_by_the_first_thumbnail_not_before(tmp_path: Path) -> None:
    """Idle memory: a node that shows no image never loads Pillow (in a fresh interpreter)."""
    (tmp_path / "chat.jpg").write_bytes(photo())
    script = """
import sys
from pathlib import Path
from tests.helpers import csrf_header, make_node, members_logged_in
node = make_node(Path(sys.argv[1]) / "n")
(alex,) = members_logged_in(node, "alex")
def put(name, body):
    headers = {**csrf_header(alex), "Accept": "application/json"}
    return alex.put("/api/files/mine/" + name, content=body, headers=headers).json()["id"]
put("notes.txt", b"radis")
assert alex.get("/files/mine/").status_code == 200
assert alex.get("/files/mine/notes.txt").status_code == 200
assert "PIL" not in sys.modules, "Pillow imported by pages without images"
image = put("chat.jpg", (Path(sys.argv[1]) / "chat.jpg").read_bytes())
assert alex.get("/files/mine/").status_code == 200
assert "PIL" not in sys.modules, "Pillow imported by a page, before any thumbnail"
assert alex.get(f"/files/item/{image}/thumbnail").headers["content-type"] == "image/jpeg"
assert "PIL" in sys.modules
"""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_on_a_shared_device_previews_name_nothing(node: Node) -> None:
    """Thumbnails and the PDF by id, kept by no cache, the PDF without its name and without
    a tab of its own (whose title would reach the history)."""
    from tests.files.test_addresses import entry_id, on_kitchen_terminal

    add_member(node, "sam")
    (alex,) = members_logged_in(node, "alex")
    put(alex, "Cadeaux.pdf", b"%PDF-1.4\n%%EOF\n")
    put(alex, "vélo rouge.jpg", photo(size=(300, 200)))
    kitchen = on_kitchen_terminal(node, "alex")
    pdf, image = (
        entry_id(node, "alex", "mine", name) for name in ("Cadeaux.pdf", "vélo rouge.jpg")
    )
    page = kitchen.get(f"/files/item/{pdf}").text
    assert f'<iframe src="/files/item/{pdf}/inline"' in page and 'target="_blank"' not in page
    answer = kitchen.get(f"/files/item/{pdf}/inline")
    assert answer.status_code == 200 and "Cadeaux" not in str(answer.headers)
    assert answer.headers["cache-control"] == "no-store"
    listing = kitchen.get(f"/files/item/{image}").text
    assert f'src="/files/item/{image}/thumbnail?size=large&amp;v=' in listing
    thumbnail = kitchen.get(f"/files/item/{image}/thumbnail?v=whatever")
    assert thumbnail.headers["cache-control"] == "no-store"


def test_a_photo_taken_sideways_is_shown_upright(node: Node) -> None:
    (alex,) = members_logged_in(node, "alex")
    image = Image.new("RGB", (400, 200), (10, 120, 200))
    exif = image.getexif()
    exif[0x0112] = 6  # the camera was turned: "rotate 90° clockwise to view"
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    entry = put(alex, "portrait.jpg", out.getvalue())
    shown = Image.open(io.BytesIO(alex.get(f"/files/item/{entry}/thumbnail").content))
    assert shown.size == (48, 96)


def test_the_weekly_scrub_forgets_the_thumbnails_of_deleted_content(node: Node) -> None:
    from hameau.files.scrub import scrub

    (alex,) = members_logged_in(node, "alex")
    kept, gone = put(alex, "garde.jpg", photo()), put(alex, "efface.jpg", photo(size=(500, 400)))
    for entry in (kept, gone):
        assert alex.get(f"/files/item/{entry}/thumbnail").status_code == 200
    cache = node.layout.root / "cache" / "thumbnails"
    assert len(list(cache.rglob("*.jpg"))) == 4
    headers = {**csrf_header(alex), "Accept": "application/json"}
    assert alex.delete("/api/files/mine/efface.jpg", headers=headers).status_code == 204
    assert alex.delete("/api/trash", headers=headers).status_code == 200  # deleted for good
    scrub(node, pause=0)
    assert len(list(cache.rglob("*.jpg"))) == 2
    assert alex.get(f"/files/item/{kept}/thumbnail").status_code == 200


def test_a_text_file_in_windows_encoding_reads_right(node: Node) -> None:
    (alex,) = members_logged_in(node, "alex")
    put(alex, "vieux.txt", "Crème brûlée, 4 œufs\n".encode("cp1252"))
    assert "Crème brûlée, 4 œufs" in preview(alex.get("/files/mine/vieux.txt").text)
