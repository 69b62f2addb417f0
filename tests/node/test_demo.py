"""`hameau demo` fills the household, so a newcomer logging in sees content, not empty lists."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from hameau.config import load_settings
from hameau.node.datadir import open_node
from tests.helpers import browser, log_in
from tests.node.test_cli import hameau


def test_the_demo_household_comes_with_files_notes_events_and_a_conversation(
    tmp_path: Path,
) -> None:
    root = tmp_path / "demo"
    made = hameau("demo", data_dir=root)
    assert made.returncode == 0, made.stderr
    passwords = dict(
        line.split("\t")[:2] for line in (root / "demo-logins.txt").read_text().splitlines()
    )
    node = open_node(load_settings(root))
    try:
        client = browser(node)
        assert log_in(client, "alex", passwords["alex"]).status_code == 303
        household = client.get("/files/household/").text
        assert "Liste de courses.txt" in household and "Photos de vacances" in household
        photos = client.get("/files/household/Photos%20de%20vacances/").text
        assert "Plage.png" in photos
        listing = client.get("/files/household/Liste%20de%20courses.txt")
        assert listing.status_code == 200
        notes = client.get("/notes").text
        assert "Menu de la semaine" in notes and "Potager" in notes
        assert "Idées de sorties" not in notes  # Sam's note stays Sam's
        assert "Marché" in client.get("/agenda").text  # today, on the default week view
        later = (datetime.now().astimezone() + timedelta(days=4)).date().isoformat()
        week = client.get("/agenda", params={"day": later}).text
        assert "Dentiste — Alex" in week
        inbox = client.get("/messages").text
        assert "Dîner de ce soir" in inbox and 'class="badge"' in inbox
    finally:
        node.close()
    report = hameau("impact", "report", "--format", "md", data_dir=root)
    assert report.returncode == 0, report.stderr
    assert "| node | lifetime | 10 years, estimated |" in report.stdout  # the demo's own machine
    again = hameau("demo", data_dir=root)  # a second run reuses the household, adds nothing
    assert again.returncode == 0 and "already" in again.stdout
