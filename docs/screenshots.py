"""Screenshots of the real pages for the docs, taken in headless Chromium (`make screenshots`).

A demo household is created in a temporary folder and served by `hameau serve`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.served import chromium, log_in_page, serve  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def _hameau(*args: str, password: str | None = None) -> str:
    env = {**os.environ, **({"HAMEAU_PASSWORD": password} if password else {})}
    done = subprocess.run(
        [sys.executable, "-m", "hameau", *args], capture_output=True, text=True, check=True, env=env
    )
    return done.stdout.strip()


def _put(url: str, token: str, path: str, body: bytes) -> None:
    request = urllib.request.Request(f"{url}/api/files/mine/{path}", data=body, method="PUT")
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
    page.screenshot(path=OUT / "travel.png", full_page=True)
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
        laptop.screenshot(path=OUT / "satellite-files.png")
        laptop.goto(away.url + "/travel")
        laptop.wait_for_load_state()
        laptop.screenshot(path=OUT / "satellite.png", full_page=True)


def main() -> None:
    OUT.mkdir(exist_ok=True)
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
            other = log_in_page(browser, node.url, "alex", logins["alex"])
            other.goto(node.url + "/account/sessions")

            kitchen = browser.new_page(locale="fr-FR", viewport={"width": 1000, "height": 640})
            kitchen.goto(link)
            kitchen.click("button[type=submit]")
            kitchen.wait_for_selector("ul.people")
            kitchen.screenshot(path=OUT / "picker.png")
            kitchen.click("ul.people button:has-text('Alex')")
            kitchen.fill("input[name=password]", logins["alex"])
            kitchen.click("button[type=submit]")
            kitchen.wait_for_selector("#resume")
            kitchen.screenshot(path=OUT / "home.png")
            kitchen.goto(node.url + "/account/sessions")
            kitchen.wait_for_load_state()
            kitchen.screenshot(path=OUT / "sessions.png")
            kitchen.click("header button")

            admin = log_in_page(browser, node.url, "camille", logins["camille"], height=900)
            admin.goto(node.url + "/admin/devices")
            admin.wait_for_load_state()
            admin.screenshot(path=OUT / "devices.png", full_page=True)
            admin.goto(node.url + "/admin/space")
            admin.wait_for_load_state()
            admin.screenshot(path=OUT / "space.png", full_page=True)
            apps = log_in_page(browser, node.url, "sam", logins["sam"], height=700)
            apps.goto(node.url + "/files/household/")
            for folder_name in ("Recettes", "Bricolage"):
                apps.fill("form[action='/files/folder'] input[name=name]", folder_name)
                apps.click("form[action='/files/folder'] button")
            sample = Path(folder) / "recette de la tarte.txt"
            sample.write_text("Tarte aux pommes : cuire 35 minutes à 180 degrés.\n")
            apps.set_input_files("#upload input[type=file]", str(sample))
            apps.click("#upload button[type=submit]")
            apps.wait_for_url("**done=uploaded")
            apps.screenshot(path=OUT / "files.png")
            apps.goto(node.url + "/agenda/event?day=2026-11-25")
            apps.fill("input[name=summary]", "Réunion du foyer")
            apps.select_option("select[name=calendar]", "household/agenda")
            apps.fill("input[name=start]", "2026-11-25T19:00")
            apps.fill("input[name=end]", "2026-11-25T20:30")
            apps.click("form[action='/agenda/event'] button")
            apps.wait_for_load_state()
            apps.screenshot(path=OUT / "agenda.png")
            apps.goto(node.url + "/notes")
            apps.click("button:has-text('Nouvelle note')")
            apps.fill(
                "textarea[name=text]",
                "# Potager\n\n- **Radis** en mars\n- Tomates en mai\n\n[Calendrier des semis](https://example.org)",
            )
            apps.wait_for_function(
                "() => document.getElementById('status').textContent === 'Enregistré.'"
            )
            apps.screenshot(path=OUT / "note.png", full_page=True)
            apps.goto(node.url + "/ai")
            apps.fill("textarea[name=question]", "Quand semer les radis ?")
            apps.click("#ask button[type=submit]")
            apps.wait_for_selector(".answer-card .sources li", timeout=120_000)
            apps.get_by_text("mWh (une estimation)").wait_for()  # the answer's end
            apps.screenshot(path=OUT / "ai.png", full_page=True)
            travel(browser, node.url, data, Path(folder), logins["sam"], apps)
    for image in sorted(OUT.glob("*.png")):
        print(image.relative_to(ROOT))


if __name__ == "__main__":
    main()
