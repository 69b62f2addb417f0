"""The Files pages in a real Chromium against a real `hameau serve`: files dropped onto the
list are uploaded (on a personal browser and on a shared device, whose addresses name
nothing), images get thumbnails in the list and a preview on their page, a PDF opens in the
browser's own viewer inside the page, and the upload form still works without scripts."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from hameau.accounts import devices
from hameau.node.db import transaction
from tests.e2e.served import log_in_page, login_cookie, serve
from tests.helpers import PASSWORD, add_member, make_node

pytestmark = pytest.mark.e2e
Image = pytest.importorskip("PIL.Image", reason="Pillow is a dependency: pip install -e .")
DEVICE = "Terminal de l'entrée"
PDF = b"""%PDF-1.1
1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 200]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>endobj
4 0 obj<</Length 44>>stream
BT /F1 24 Tf 50 100 Td (Bonjour PDF) Tj ET
endstream endobj
5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj
trailer<</Root 1 0 R>>
%%EOF
"""
# Chromium's PDF viewer is an extension of its own: a frame at this origin shows the PDF.
PDF_VIEWER = "chrome-extension://mhjfbmdgcfjbbpaeojofohoefgiehjai/"

# What a drag from the desktop delivers: a DataTransfer holding files, over dragenter,
# dragover and drop (Playwright cannot drag from outside the page).
DROP = """([files]) => {
  const transfer = new DataTransfer();
  for (const [name, type, data] of files) {
    const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
    transfer.items.add(new File([bytes], name, {type}));
  }
  const list = document.getElementById('listing');
  for (const kind of ['dragenter', 'dragover', 'drop']) {
    list.dispatchEvent(new DragEvent(kind, {bubbles: true, cancelable: true, dataTransfer: transfer}));
  }
}"""


def png(width: int = 640, height: int = 480) -> bytes:
    image = Image.new("RGB", (width, height), (47, 111, 79))
    image.paste((240, 200, 60), (width // 4, height // 4, width // 2, height // 2))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def drop(page: Any, *files: tuple[str, str, bytes]) -> None:
    encoded = [[name, kind, base64.b64encode(data).decode()] for name, kind, data in files]
    page.evaluate(DROP, [encoded])


@pytest.fixture
def household(tmp_path: Path) -> Path:
    node = make_node(tmp_path / "n")
    add_member(node, "alex")
    add_member(node, "sam")
    with transaction(node.sessions) as session:
        devices.add_device(session, DEVICE, "terminal", True)
    node.close()
    return tmp_path / "n"


def test_files_dropped_onto_the_list_are_uploaded_and_images_get_thumbnails(
    household: Path, browser: Any
) -> None:
    text = b"Radis en mars, tomates en mai.\n"
    with serve(household) as served:
        page = log_in_page(browser, served.url, "alex")
        page.goto(served.url + "/files/mine/")
        assert page.locator(".drop-hint").is_visible()  # said only where the script runs
        drop(page, ("semis.txt", "text/plain", text), ("potager.png", "image/png", png()))
        page.wait_for_url("**done=uploaded")
        assert page.locator("table.files a:has-text('semis.txt')").count() == 1
        thumb = page.locator("table.files img.thumb")
        thumb.wait_for()
        page.wait_for_function("() => document.querySelector('img.thumb').naturalWidth > 0")
        assert thumb.evaluate("image => image.naturalWidth") <= 96
        cookie = login_cookie(served.url, "alex", PASSWORD)
        stored = httpx.get(
            served.url + "/api/files/mine/semis.txt", cookies={"hameau_session": cookie}
        )
        assert stored.content == text
        page.click("table.files a:has-text('potager.png')")
        preview = page.locator("section.preview img")
        preview.wait_for()
        page.wait_for_function(
            "() => document.querySelector('section.preview img').naturalWidth === 640"
        )
        page.close()


def test_a_drop_on_a_shared_device_posts_by_id_and_names_nothing(
    household: Path, browser: Any
) -> None:
    with serve(household) as served:
        link = subprocess.run(
            [sys.executable, "-m", "hameau", "device", "enrol-link", DEVICE, "--url", served.url,
             "--data-dir", str(household)],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        page = browser.new_page(locale="fr-FR")
        page.goto(link)
        page.click("button[type=submit]")
        page.click("ul.people button:has-text('Sam')")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(served.url + "/files/mine/")
        page.fill("form[action='/files/folder'] input[name=name]", "Cadeaux")
        page.click("form[action='/files/folder'] button")
        page.click("table.files a:has-text('Cadeaux')")
        assert "/files/item/" in page.url
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        drop(page, ("vélo rouge.txt", "text/plain", b"pour Noel"))
        page.wait_for_url("**done=uploaded")
        assert page.locator("table.files a:has-text('vélo rouge.txt')").count() == 1
        assert asked and not any("v%C3%A9lo" in url or "vélo" in url for url in asked)
        page.close()


def test_a_pdf_opens_in_the_browsers_own_viewer_inside_its_page(
    household: Path, browser: Any
) -> None:
    with serve(household) as served:
        page = log_in_page(browser, served.url, "alex")
        page.goto(served.url + "/files/mine/")
        drop(page, ("facture.pdf", "application/pdf", PDF))
        page.wait_for_url("**done=uploaded")
        page.click("table.files a:has-text('facture.pdf')")
        for _ in range(150):  # the viewer's frame comes after the page's load
            if any(frame.url.startswith(PDF_VIEWER) for frame in page.frames):
                break
            page.wait_for_timeout(100)
        assert any(frame.url.startswith(PDF_VIEWER) for frame in page.frames), [
            frame.url for frame in page.frames
        ]
        page.close()


def test_without_scripts_the_upload_form_still_uploads(household: Path, browser: Any) -> None:
    with serve(household) as served:
        context = browser.new_context(locale="fr-FR", java_script_enabled=False)
        page = context.new_page()
        page.goto(served.url + "/login")
        page.fill("input[name=name]", "alex")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(served.url + "/files/mine/")
        assert not page.locator(".drop-hint").is_visible()
        page.set_input_files(
            "#upload input[type=file]",
            files=[{"name": "liste.txt", "mimeType": "text/plain", "buffer": b"farine"}],
        )
        page.click("#upload button[type=submit]")
        page.wait_for_url("**done=uploaded")
        assert page.locator("table.files a:has-text('liste.txt')").count() == 1
        context.close()


def test_a_folder_page_stays_light_with_its_icons_and_thumbnails(
    household: Path, browser: Any
) -> None:
    """The sprite is in the page: a later visit of a folder stays under 8 kB; its
    thumbnails are a few kilobytes each, then kept by the browser (their address names the
    content's hash)."""
    from tests.e2e.test_weight import weigh

    with serve(household) as served:
        page = log_in_page(browser, served.url, "alex")
        page.goto(served.url + "/files/mine/")
        drop(page, *[(f"note {n}.txt", "text/plain", b"radis") for n in range(6)])
        page.wait_for_url("**done=uploaded")
        weigh(page, served.url + "/notes")  # the styles are cached from here on
        later, _ = weigh(page, served.url + "/files/mine/")
        assert later <= 8_000, f"a folder of six text files took {later} bytes"
        drop(page, *[(f"photo {n}.png", "image/png", png(1600, 1200)) for n in range(6)])
        page.wait_for_url("**done=uploaded")
        page.wait_for_function("() => [...document.images].every(image => image.complete)")
        thumbnails = page.evaluate(
            "() => performance.getEntriesByType('resource')"
            ".filter(e => e.name.includes('/thumbnail')).map(e => e.encodedBodySize)"
        )
        assert len(thumbnails) == 6 and all(0 < size < 8_000 for size in thumbnails), thumbnails
        again, _ = weigh(page, served.url + "/files/mine/")
        page.wait_for_function("() => [...document.images].every(image => image.complete)")
        transferred = page.evaluate(
            "() => performance.getEntriesByType('resource')"
            ".filter(e => e.name.includes('/thumbnail')).map(e => e.transferSize)"
        )
        assert transferred == [0] * 6  # kept by the browser: their address names the content
        assert again <= 8_000, f"the folder with six photos took {again} bytes, seen again"
        print(f"folder: {later} B (6 texts); 6 photos: {again} B again, thumbnails {thumbnails} B")
        page.close()
