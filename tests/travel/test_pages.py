"""The travel pages: prepare a trip at home, see and revoke satellites; a satellite's status."""

from __future__ import annotations

from pathlib import Path

from hameau.app import create_app
from tests.helpers import browser, csrf, log_in
from tests.travel.sides import HOME, home_node, pack, write


def test_preparing_a_trip_gives_the_command_and_lists_satellites_to_revoke(tmp_path: Path) -> None:
    home = home_node(tmp_path / "home")
    write(home, "Voyage/plan.txt", b"plan")
    write(home, "Recettes/soupe.txt", b"soupe", space="household")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage", "notes"], name="portable")
    client = browser(home)
    log_in(client, "alex")
    page = client.get("/travel")
    assert page.status_code == 200
    assert "Préparer un voyage" in page.text and 'value="files:mine/Voyage"' in page.text
    assert 'value="files:household/Recettes"' in page.text
    chosen = client.get(
        "/travel", params={"take": ["files:mine/Voyage", "calendar:agenda", "files:../etc"]}
    )
    assert (
        "hameau travel pack --from http://testserver --member alex --take files:mine/Voyage"
        in chosen.text
    )
    assert "--take calendar:agenda" in chosen.text and "../etc" not in chosen.text
    assert "portable" in chosen.text and "Révoquer" in chosen.text
    device_id = chosen.text.split('action="/travel/satellites/')[1].split("/")[0]
    revoked = client.post(
        f"/travel/satellites/{device_id}/revoke", data={"csrf_token": csrf(chosen.text)}
    )
    assert revoked.status_code == 303
    assert pair.client.get("/api/travel/files/mine/changes").status_code == 401
    # Someone else's satellite cannot be revoked by this member.
    other = browser(home)
    log_in(other, "sam")
    page = other.get("/travel")
    assert (
        other.post(
            f"/travel/satellites/{device_id}/revoke", data={"csrf_token": csrf(page.text)}
        ).status_code
        == 404
    )


def test_a_satellite_says_what_it_is_on_every_page(tmp_path: Path) -> None:
    home = home_node(tmp_path / "home")
    write(home, "Voyage/plan.txt", b"plan")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"], name="portable")
    write(pair.sat, "Voyage/carnet.txt", b"written away")
    from starlette.testclient import TestClient

    client = TestClient(create_app(pair.sat), client=("192.0.2.10", 50000), follow_redirects=False)
    log_in(client, "alex")
    folder = client.get("/files/mine/Voyage/")
    assert (
        "Satellite : copie de voyage des affaires de alex, synchronisée avec " + HOME in folder.text
    )
    status = client.get("/travel")
    assert "Copie de voyage" in status.text and "Voyage/carnet.txt" in status.text
    assert "Synchroniser maintenant" in status.text
