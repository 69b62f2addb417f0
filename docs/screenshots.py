"""Screenshots of the real pages for the docs, taken in headless Chromium (`make screenshots`).

A demo household is created in a temporary folder and served by `hameau serve`. Each main
page is taken at a laptop's size (1280×800, `NAME.png`) and a phone's (360×740,
`NAME-phone.png`), then reduced to 256 colours (Pillow) to keep the repository light.
`python docs/screenshots.py files apps` retakes only those groups (see `GROUPS`).
"""

from __future__ import annotations

import io
import json
import mimetypes
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.served import chromium, log_in_page, serve  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
VISITOR = "mot de passe de Louise"  # the visitor's own password, at her home
ADMIN = "mot de passe de Camille"  # the hamlet page's admin, in a throwaway home
# Lazy images in the window have arrived (a thumbnail's first request makes it).
SHOWN = """() => [...document.images].every(image =>
  image.complete || image.getBoundingClientRect().top > window.innerHeight)"""


def shoot(
    page: Any, name: str, full_page: bool = False, phone: bool = True, phone_full: bool = False
) -> None:
    """``NAME.png`` at a laptop's size and, with ``phone``, ``NAME-phone.png`` at a phone's
    (its whole length with ``phone_full``)."""
    page.set_viewport_size(DESKTOP)
    page.wait_for_function(SHOWN)
    page.screenshot(path=OUT / f"{name}.png", full_page=full_page)
    if phone:
        page.set_viewport_size(PHONE)
        page.wait_for_function(SHOWN)
        page.screenshot(path=OUT / f"{name}-phone.png", full_page=phone_full)
        page.set_viewport_size(DESKTOP)


def _hameau(*args: str, password: str | None = None, stdin: str | None = None) -> str:
    env = {**os.environ, **({"HAMEAU_PASSWORD": password} if password else {})}
    done = subprocess.run(
        [sys.executable, "-m", "hameau", *args],
        capture_output=True, text=True, check=True, env=env, input=stdin,
    )  # fmt: skip
    return done.stdout.strip()


def _put(url: str, token: str, path: str, body: bytes, space: str = "mine") -> None:
    request = urllib.request.Request(f"{url}/api/files/{space}/{path}", data=body, method="PUT")
    kind = mimetypes.guess_type(urllib.parse.unquote(path))[0] or "application/octet-stream"
    request.add_header("Content-Type", kind)  # else urllib says it is a form
    request.add_header("Authorization", f"Bearer {token}")
    urllib.request.urlopen(request).read()


def travel(browser: Any, url: str, data: Path, folder: Path, password: str, page: Any) -> None:
    """Sam prepares a trip, packs a satellite, and both sides change the same file."""
    page.goto(url + "/files/mine/")
    page.fill("form[action='/files/folder'] input[name=name]", "Voyage à Lyon")
    page.click("form[action='/files/folder'] button")
    home_token = _hameau("token", "create", "sam", "--label", "shots", "--data-dir", str(data))
    home_token = home_token.splitlines()[-1]
    _put(url, home_token, "Voyage%20%C3%A0%20Lyon/itin%C3%A9raire.txt", b"Jour 1 : Lyon")
    page.goto(
        url + "/travel?take=files:mine/Voyage%20%C3%A0%20Lyon&take=notes&take=calendar:agenda"
    )
    page.wait_for_selector("#command")
    shoot(page, "travel", full_page=True, phone=False)
    sat = folder / "satellite"
    _hameau(
        "travel", "pack", "--from", url, "--member", "sam", "--take", "files:mine/Voyage à Lyon",
        "--take", "notes", "--name", "Portable de Sam", "--data-dir", str(sat), password=password,
    )  # fmt: skip
    sat_token = _hameau("token", "create", "sam", "--label", "shots", "--data-dir", str(sat))
    sat_token = sat_token.splitlines()[-1]
    with serve(sat) as away:
        _put(
            away.url,
            sat_token,
            "Voyage%20%C3%A0%20Lyon/itin%C3%A9raire.txt",
            b"Jour 1 : Lyon, jour 2 : Dijon",
        )
        _put(
            url, home_token, "Voyage%20%C3%A0%20Lyon/itin%C3%A9raire.txt", b"Jour 1 : Lyon (hotel)"
        )
        _hameau("travel", "sync", "--data-dir", str(sat))
        laptop = log_in_page(browser, away.url, "sam", password)
        laptop.goto(away.url + "/files/mine/Voyage%20%C3%A0%20Lyon/")
        laptop.wait_for_selector(".badge.conflict")
        shoot(laptop, "satellite-files", phone=False)
        laptop.goto(away.url + "/travel")
        laptop.wait_for_load_state()
        shoot(laptop, "satellite", full_page=True, phone=False)


def photo(sky: tuple[int, int, int], ground: tuple[int, int, int], sun: bool) -> bytes:
    """A holiday "photo" drawn here (a sky, hills, maybe a sun), so the docs ship no photo."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (1600, 1067), sky)
    draw = ImageDraw.Draw(image)
    for y in range(0, 600, 4):  # the sky lightens towards the horizon
        shade = tuple(min(255, part + y // 6) for part in sky)
        draw.rectangle((0, y, 1600, y + 4), fill=shade)
    if sun:
        draw.ellipse((1150, 140, 1350, 340), fill=(255, 214, 102))
    draw.polygon(
        [(0, 700), (400, 480), (800, 660), (1200, 430), (1600, 640), (1600, 1067), (0, 1067)],
        fill=ground,
    )
    draw.rectangle((0, 900, 1600, 1067), fill=tuple(part // 2 for part in ground))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


RECIPE = """# Tarte aux pommes de Mamie

- 6 pommes, 1 pâte brisée, 50 g de sucre, un peu de cannelle
- Éplucher et couper les pommes en lamelles, les disposer en rosace.

**Cuire 35 minutes à 180 degrés.** Servir tiède, avec de la crème fraîche.
"""


# A one-page PDF written by hand (no PDF library needed); xref left out, as viewers allow.
INVOICE = b"""%PDF-1.1
1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 420 300]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>endobj
4 0 obj<</Length 132>>stream
BT /F1 22 Tf 40 240 Td (Plomberie Martin) Tj /F1 14 Tf 0 -50 Td (Remplacement du chauffe-eau) Tj 0 -30 Td (Total : 640,00 EUR) Tj ET
endstream endobj
5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj
trailer<</Root 1 0 R>>
%%EOF
"""


def add_files(url: str, data: Path) -> None:
    """Photos, a recipe in Markdown and a PDF in the household's files, through the API."""
    token = _hameau("token", "create", "sam", "--label", "shots", "--data-dir", str(data))
    token = token.splitlines()[-1]
    folder = "Photos%20de%20vacances/"
    pictures = {
        "Trégastel.jpg": ((110, 170, 220), (222, 196, 140), True),
        "Le phare.jpg": ((150, 190, 230), (70, 120, 80), False),
        "Coucher de soleil.jpg": ((230, 120, 80), (90, 60, 90), True),
        "Forêt.jpg": ((170, 200, 210), (40, 90, 50), False),
    }
    for name, colours in pictures.items():
        _put(url, token, folder + urllib.parse.quote(name), photo(*colours), "household")
    request = urllib.request.Request(
        f"{url}/api/files/folders", method="POST",
        data=json.dumps({"space": "household", "path": "Recettes"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    urllib.request.urlopen(request).read()
    _put(url, token, "Recettes/Tarte%20aux%20pommes.md", RECIPE.encode(), "household")
    _put(url, token, "Papiers/Facture%20du%20plombier.pdf", INVOICE, "household")


def device_pages(shots: Shots) -> None:
    """The kitchen's shared terminal: the picker, Alex's home, sessions, a conversation."""
    other = log_in_page(shots.browser, shots.url, "alex", shots.logins["alex"])
    other.goto(shots.url + "/account/sessions")  # a second session, on Alex's laptop
    kitchen = shots.browser.new_page(locale="fr-FR", viewport=DESKTOP)
    kitchen.goto(shots.link)
    kitchen.click("button[type=submit]")
    kitchen.wait_for_selector("ul.people")
    shoot(kitchen, "picker")
    kitchen.click("ul.people button:has-text('Alex')")
    kitchen.fill("input[name=password]", shots.logins["alex"])
    kitchen.click("button[type=submit]")
    kitchen.wait_for_selector("#resume")
    shoot(kitchen, "home")
    kitchen.goto(shots.url + "/account/sessions")
    shoot(kitchen, "sessions")
    kitchen.goto(shots.url + "/messages")
    kitchen.click("a:has-text('Dîner de ce soir')")
    kitchen.wait_for_load_state()
    shoot(kitchen, "messages")
    kitchen.click("header button")
    kitchen.close()


def admin_pages(shots: Shots) -> None:
    admin = log_in_page(shots.browser, shots.url, "camille", shots.logins["camille"])
    admin.set_viewport_size(DESKTOP)
    for name in ("devices", "space"):
        admin.goto(f"{shots.url}/admin/{name}")
        shoot(admin, name, full_page=True)
    admin.close()


def files_pages(shots: Shots) -> None:
    """The household's holiday photos as thumbnails, one photo's page, a recipe's page."""
    add_files(shots.url, shots.data)
    page = shots.apps
    page.goto(shots.url + "/files/household/Photos%20de%20vacances/")
    page.wait_for_function("() => document.querySelectorAll('img.thumb').length >= 4")
    shoot(page, "files")
    page.click("table.files a:has-text('Trégastel.jpg')")
    page.wait_for_selector("section.preview img")
    shoot(page, "file-photo")
    page.goto(shots.url + "/files/household/Recettes/Tarte%20aux%20pommes.md")
    shoot(page, "file-markdown")
    page.goto(shots.url + "/files/household/Papiers/Facture%20du%20plombier.pdf")
    page.wait_for_selector("section.preview iframe")
    page.wait_for_timeout(2000)  # Chromium's own PDF viewer draws in its frame
    shoot(page, "file-pdf", phone=False)


def app_pages(shots: Shots) -> None:
    """The week's agenda, a note being written."""
    page = shots.apps
    page.goto(shots.url + "/agenda?view=week")
    shoot(page, "agenda")
    page.goto(shots.url + "/notes")
    page.click("button:has-text('Nouvelle note')")
    page.fill(
        "textarea[name=text]",
        "# Potager\n\n- **Radis** en mars\n- Tomates en mai\n\n[Calendrier des semis](https://example.org)",
    )
    page.wait_for_function("() => document.getElementById('status').textContent === 'Enregistré.'")
    shoot(page, "note", full_page=True)


def ai_page(shots: Shots) -> None:
    page = shots.apps
    page.goto(shots.url + "/ai")
    page.fill("textarea[name=question]", "Quand semer les radis ?")
    page.click("#ask button[type=submit]")
    page.wait_for_selector(".answer-card .sources li", timeout=120_000)
    page.get_by_text("mWh (une estimation)").wait_for()  # the answer's end
    shoot(page, "ai", full_page=True)


def hamlet_page(shots: Shots) -> None:
    """The admin's hamlet page: a neighbour that answers, one that is off (killed after
    pairing), and an invitation with its QR code. Homes pair over https only, so this is
    a home of its own served with its certificate (the demo node is plain http)."""
    from tests.e2e.hamlet_nodes import hamlet

    names = ("Maison Commune", "Les Tilleuls", "La Ferme")
    pairs = (("Les Tilleuls", "Maison Commune"), ("La Ferme", "Maison Commune"))
    with hamlet(shots.folder / "hamlet", names, pairs) as homes:
        home = homes["Maison Commune"]
        _hameau("member", "add", "camille", "--display-name", "Camille", "--admin",
                "--password-stdin", "--data-dir", str(home.data_dir), stdin=ADMIN)  # fmt: skip
        homes["La Ferme"].served.process.kill()
        homes["La Ferme"].served.process.wait()
        admin = log_in_page(shots.browser, home.url, "camille", ADMIN)
        admin.set_viewport_size(DESKTOP)
        admin.goto(home.url + "/hamlet")
        for row in admin.locator("tr.peer").all():
            row.locator("button", has_text="Vérifier").click()
            admin.wait_for_load_state("networkidle")
        admin.goto(home.url + "/hamlet")
        admin.click("form[action='/hamlet/invite'] button[type=submit]")
        admin.wait_for_selector("figure.qr svg")
        shoot(admin, "hamlet", full_page=True)
        admin.close()


def visit_pages(shots: Shots) -> None:
    """A visit between two paired homes served over https: the terminal of La Ferme's hall
    (the homes to come from, a device sign-in's code and QR code), the sign-in form of
    Les Tilleuls, and Louise's sessions there listing her visit."""
    from tests.e2e.hamlet_nodes import hamlet

    home, hall = "Les Tilleuls", "La Ferme"
    with hamlet(shots.folder / "visits", (home, hall), ((hall, home),)) as homes:
        a, b = homes[home], homes[hall]
        _hameau("member", "add", "louise", "--display-name", "Louise", "--password-stdin",
                "--data-dir", str(a.data_dir), stdin=VISITOR)  # fmt: skip
        _hameau("device", "add", "Terminal du hall", "--kind", "terminal", "--shared",
                "--data-dir", str(b.data_dir))  # fmt: skip
        link = _hameau("device", "enrol-link", "Terminal du hall", "--url", b.url,
                       "--data-dir", str(b.data_dir))  # fmt: skip
        terminal = shots.browser.new_page(
            locale="fr-FR", viewport=DESKTOP, ignore_https_errors=True
        )
        terminal.goto(link)
        terminal.click("button[type=submit]")
        terminal.goto(b.url + "/visit")
        shoot(terminal, "visit")
        terminal.click(f"ul.device-homes button:has-text('{home}')")
        terminal.wait_for_selector("svg.qr")
        shoot(terminal, "visit-device", full_page=True)
        terminal.goto(b.url + "/visit")
        terminal.click(f"ul.people button:has-text('{home}')")
        terminal.wait_for_url(a.url + "/hamlet/visit/authorize**")
        shoot(terminal, "visit-sign-in")
        terminal.fill("input[name=name]", "louise")
        terminal.fill("input[name=password]", VISITOR)
        terminal.click("button[type=submit]")
        terminal.wait_for_url(b.url + "/")
        own = shots.browser.new_page(locale="fr-FR", viewport=DESKTOP, ignore_https_errors=True)
        own.goto(a.url + "/login")
        own.fill("input[name=name]", "louise")
        own.fill("input[name=password]", VISITOR)
        own.click("button[type=submit]")
        own.goto(a.url + "/account/sessions")
        own.wait_for_selector("form[action^='/account/visits/']")
        shoot(own, "visit-sessions", full_page=True, phone_full=True)
        own.close()
        terminal.close()


def moving_pages(shots: Shots) -> None:
    """Louise moves her home from Les Tilleuls to La Ferme: the plan of what moves (a few
    photos of hers first), then the move's report (the stub of the moving service, before
    move-core's, leaves it waiting for La Ferme's admins)."""
    from tests.e2e.hamlet_nodes import hamlet

    home, other = "Les Tilleuls", "La Ferme"
    with hamlet(shots.folder / "moving", (home, other), ((other, home),)) as homes:
        data = str(homes[home].data_dir)
        url = homes[home].url
        _hameau("member", "add", "louise", "--display-name", "Louise", "--password-stdin",
                "--data-dir", data, stdin=VISITOR)  # fmt: skip
        token = _hameau("token", "create", "louise", "--label", "shots", "--data-dir", data)
        request = urllib.request.Request(f"{url}/api/files/mine/Semis.jpg", method="PUT",
                                         data=photo((110, 170, 220), (70, 120, 80), True))  # fmt: skip
        request.add_header("Content-Type", "image/jpeg")
        request.add_header("Authorization", f"Bearer {token.splitlines()[-1]}")
        urllib.request.urlopen(request, context=_trusting(homes[home])).read()
        page = log_in_page(shots.browser, url, "louise", VISITOR)
        page.set_viewport_size(DESKTOP)
        page.goto(url + "/account/move")
        page.click("form[action='/account/move'][method=get] button")
        page.wait_for_selector("#plan")
        shoot(page, "move-plan", full_page=True, phone_full=True)
        page.click("form[action='/account/move'][method=post] button")
        page.wait_for_url("**/moves/*")
        shoot(page, "move-report", full_page=True, phone_full=True)
        page.close()


def backup_page(shots: Shots) -> None:
    """The admins' backup page after a first backup to a folder (a USB disk's, here)."""
    where = ["--data-dir", str(shots.data)]
    disk = shots.folder / "usb" / "hameau"
    disk.mkdir(parents=True)
    for command in (["setup", str(disk)], ["now"]):
        subprocess.run([sys.executable, "-m", "hameau", "backup", *command, *where],
                       check=True, capture_output=True, timeout=600)  # fmt: skip
    admin = log_in_page(shots.browser, shots.url, "camille", shots.logins["camille"])
    admin.goto(f"{shots.url}/backup")
    shoot(admin, "backup", full_page=True)
    admin.close()


def footprint_pages(shots: Shots) -> None:
    """The household's footprint (admins) with the node described and a wall meter's reading,
    and a member's own share."""
    where = ["--data-dir", str(shots.data)]
    for command in (["node", "--kind", "laptop", "--acquired", "2017-05-01"],
                    ["meter", "--kwh", "2.9", "--hours", "168", "--by", "camille"]):  # fmt: skip
        subprocess.run([sys.executable, "-m", "hameau", "impact", *command, *where],
                       check=True, capture_output=True, timeout=120)  # fmt: skip
    admin = log_in_page(shots.browser, shots.url, "camille", shots.logins["camille"])
    admin.goto(f"{shots.url}/footprint/household")
    shoot(admin, "footprint-household")
    admin.close()
    member = log_in_page(shots.browser, shots.url, "sam", shots.logins["sam"])
    member.goto(f"{shots.url}/footprint")
    shoot(member, "footprint")
    member.close()


def credit_pages(shots: Shots) -> None:
    """The credit page of a member after a few payments, and the cooperative's page."""
    where = ["--data-dir", str(shots.data)]
    for command in (
        ["issue", "alex", "40"],
        ["issue", "sam", "25"],
        ["limit", "camille", "50"],
        ["transfer", "alex", "sam", "12,50", "--memo", "Les courses du marché"],
        ["transfer", "camille", "sam", "8", "--memo", "Prêt de la perceuse"],
        ["transfer", "sam", "alex", "4,20", "--memo", "Pain"],
    ):
        subprocess.run([sys.executable, "-m", "hameau", "ledger", *command, *where],
                       check=True, capture_output=True, timeout=300)  # fmt: skip
    member = log_in_page(shots.browser, shots.url, "sam", shots.logins["sam"])
    member.goto(f"{shots.url}/credit")
    shoot(member, "credit", full_page=True)
    member.close()
    admin = log_in_page(shots.browser, shots.url, "camille", shots.logins["camille"])
    admin.goto(f"{shots.url}/credit/admin")
    shoot(admin, "credit-admin", full_page=True)
    admin.close()


def _trusting(home: Any) -> Any:
    return home.verify if not isinstance(home.verify, bool) else None


def travel_pages(shots: Shots) -> None:
    travel(shots.browser, shots.url, shots.data, shots.folder, shots.logins["sam"], shots.apps)


@dataclass
class Shots:
    browser: Any
    url: str
    data: Path
    folder: Path
    logins: dict[str, str]
    link: str
    apps: Any = None  # Sam's page, on a laptop


GROUPS = {"device": device_pages, "admin": admin_pages, "files": files_pages,
          "apps": app_pages, "ai": ai_page, "travel": travel_pages,
          "hamlet": hamlet_page, "visits": visit_pages, "moving": moving_pages,
          "backup": backup_page, "footprint": footprint_pages,
          "credit": credit_pages}  # fmt: skip


def small(image: Path) -> None:
    """The screenshot in 256 colours: a third of its size, no visible loss on a page's UI."""
    from PIL import Image

    with Image.open(image) as shot:
        reduced = shot.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    reduced.save(image, optimize=True)


def main(groups: list[str]) -> None:
    OUT.mkdir(exist_ok=True)
    unknown = [name for name in groups if name not in GROUPS]
    if unknown:
        sys.exit(f"Unknown group {unknown[0]!r}: choose among {', '.join(GROUPS)}.")
    started = time.time()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "demo"
        subprocess.run(
            [sys.executable, "-m", "hameau", "demo", "--data-dir", str(data)],
            check=True,
            capture_output=True,
        )
        logins = dict(
            line.split("\t")[:2] for line in (data / "demo-logins.txt").read_text().splitlines()
        )
        with serve(data) as node, chromium() as browser:
            link = subprocess.run(
                [sys.executable, "-m", "hameau", "device", "enrol-link", "Terminal de la cuisine",
                 "--url", node.url, "--data-dir", str(data)],
                capture_output=True, text=True, check=True,
            ).stdout.strip()  # fmt: skip
            shots = Shots(browser, node.url, data, Path(folder), logins, link)
            shots.apps = log_in_page(browser, node.url, "sam", logins["sam"])
            shots.apps.set_viewport_size(DESKTOP)
            for name, take in GROUPS.items():
                if not groups or name in groups:
                    take(shots)
    for image in sorted(OUT.glob("*.png")):
        if image.stat().st_mtime >= started:
            small(image)
            print(image.relative_to(ROOT), image.stat().st_size)


if __name__ == "__main__":
    main(sys.argv[1:])
