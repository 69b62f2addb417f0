"""A visit from a terminal that cannot reach the visitor's home: the device sign-in (RFC
8628) across real nodes (`hameau serve` processes, paired by the command line). A is the
visitor's home, B the home whose hall terminal they use, C another paired home.

First as B's node would, with httpx and B's own key: the device code, the polls (pending,
slow down, approved once, refused, expired), a device code another peer cannot use. Then in
real headless Chromium: the terminal's browser cannot reach A at all (every request to A's
origin aborted), the member approves on their phone (a second browser, logged in at A), and
the terminal shows their own files from A through B's relay; B never gets a password."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from hameau.node.datadir import Layout
from tests.e2e import served
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.e2e.served import log_in_page, login_cookie
from tests.e2e.test_hamlet_visit_home import cli, signed
from tests.e2e.test_hamlet_visit_terminal import SECRET_FILE, TERMINAL, _api, _cli, enrol_terminal
from tests.helpers import PASSWORD

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:EdDSA is deprecated"),  # the contract's alg, RFC 8037
]
pytest.importorskip("joserfc", reason="not run: joserfc (with Authlib) is not installed")

DEVICE = "/api/hamlet/visit/device"
TOKEN = "/api/hamlet/visit/token"
PAGE = "/hamlet/visit/device"
GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def ask(by: Home, a: Home, nonce: str = "n-1") -> dict[str, Any]:
    """A device sign-in asked by `by`'s node (signed; A's answer checked against A's key)."""
    form = {"client_id": by.node_id, "scope": "openid", "nonce": nonce, "device": TERMINAL}
    with signed(by, a) as client:
        answer = client.post(DEVICE, data=form)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def poll(by: Home, a: Home, device_code: str) -> httpx.Response:
    form = {"grant_type": GRANT, "device_code": device_code, "client_id": by.node_id}
    with signed(by, a, check=False) as client:  # refusals are not signed answers
        return client.post(TOKEN, data=form)


def answer_at_home(a: Home, user_code: str, decision: str, name: str = "ana") -> httpx.Response:
    """The member, logged in at A on their own phone, answers the code."""
    cookie = login_cookie(a.url, name, PASSWORD, verify=a.verify)
    with httpx.Client(
        base_url=a.url, cookies={"hameau_session": cookie}, verify=a.verify,
        headers={"Accept-Language": "fr"},
    ) as phone:  # fmt: skip
        page = phone.get(PAGE, params={"user_code": user_code})
        assert page.status_code == 200, page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        return phone.post(
            PAGE, data={"csrf_token": token.group(1), "user_code": user_code, "decision": decision}
        )


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Home]]:
    with hamlet(tmp_path_factory.mktemp("device")) as found:
        made = cli(
            found["A"], "member", "add", "ana", "--password-stdin", "--display-name", "Ana",
            stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        yield found


def test_a_device_sign_in_gives_the_code_flows_tokens_once_to_its_peer_only(
    homes: dict[str, Home],
) -> None:
    a, b, c = homes["A"], homes["B"], homes["C"]
    given = ask(b, a)
    assert re.fullmatch(r"[B-Z]{4}-[B-Z]{4}", given["user_code"])
    assert given["verification_uri"] == a.url + PAGE
    complete = urlsplit(given["verification_uri_complete"])
    assert parse_qs(complete.query)["user_code"] == [given["user_code"]]
    assert given["expires_in"] == 600 and given["interval"] == 5
    discovery = httpx.get(a.url + "/.well-known/openid-configuration", verify=a.verify).json()
    assert discovery["device_authorization_endpoint"] == a.url + DEVICE
    assert GRANT in discovery["grant_types_supported"]

    first = poll(b, a, given["device_code"])
    assert first.status_code == 400 and first.json()["error"] == "authorization_pending"
    assert poll(b, a, given["device_code"]).json()["error"] == "slow_down"  # too soon
    stolen = poll(c, a, given["device_code"])  # C cannot use B's device code
    assert stolen.status_code == 400 and stolen.json()["error"] == "unauthorized_client"
    unsigned = httpx.post(
        a.url + TOKEN, data={"grant_type": GRANT, "device_code": given["device_code"]},
        verify=a.verify,
    )  # fmt: skip
    assert unsigned.status_code in (401, 403) and "access_token" not in unsigned.text

    done = answer_at_home(a, given["user_code"], "approve")
    assert "Accepté : le terminal « Terminal du hall » de B" in done.text
    tokens = poll(b, a, given["device_code"])
    assert tokens.status_code == 200, tokens.text
    found = tokens.json()
    assert (
        found["access_token"].startswith("hv_") and found["id_token"] and found["scope"] == "openid"
    )
    again = poll(b, a, given["device_code"])  # used once: no second visit
    assert again.status_code == 400 and again.json()["error"] != "authorization_pending"
    with sqlite3.connect(Layout(a.data_dir).database) as db:
        visits = list(db.execute("SELECT peer_name, device_label, ended_at FROM hamlet_visits"))
    assert visits == [("B", TERMINAL, None)]  # the same visit record as the code flow's

    with signed(b, a, check=False) as client:  # the relay's way: the visit works
        page = client.get(
            "/files/mine/", headers={"Authorization": f"Bearer {found['access_token']}"}
        )
    assert page.status_code == 200 and "Ana" in page.text


def test_a_refused_or_expired_device_sign_in_gives_nothing(homes: dict[str, Home]) -> None:
    a, b = homes["A"], homes["B"]
    refused = ask(b, a)
    answered = answer_at_home(a, refused["user_code"], "refuse")
    assert "Refusé" in answered.text
    assert poll(b, a, refused["device_code"]).json()["error"] == "access_denied"

    late = ask(b, a)
    with sqlite3.connect(Layout(a.data_dir).database) as db:
        db.execute(
            "UPDATE hamlet_visit_devices SET expires_at = '2000-01-01 00:00:00.000000'"
            " WHERE approved IS NULL"
        )
    assert poll(b, a, late["device_code"]).json()["error"] == "expired_token"
    cookie = login_cookie(a.url, "ana", PASSWORD, verify=a.verify)
    with httpx.Client(base_url=a.url, cookies={"hameau_session": cookie}, verify=a.verify) as phone:
        wrong = phone.get(PAGE, params={"user_code": late["user_code"]})
        assert wrong.status_code == 404 and "Ce code est faux" in wrong.text
        assert phone.get(PAGE, params={"user_code": "BCDF-GHJK"}).status_code == 404
    assert poll(b, a, "not-a-device-code").json()["error"] == "invalid_request"


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Home, Home, str]]:
    """A and B paired; Ada, a member of A, with a file; Bea, a member of B; B's hall terminal."""
    with hamlet(tmp_path, names=("A", "B"), pairs=(("B", "A"),)) as found:
        a, b = found["A"], found["B"]
        _cli(a, "member", "add", "ada", "--display-name", "Ada", "--password-stdin", stdin=PASSWORD)
        token = _cli(a, "token", "create", "ada", "--label", "test").strip().splitlines()[-1]
        _api(a, token, "PUT", f"/api/files/mine/{SECRET_FILE}", b"radis, fenouil\n")
        _cli(b, "member", "add", "bea", "--display-name", "Bea", "--password-stdin", stdin=PASSWORD)
        _cli(b, "device", "add", TERMINAL, "--kind", "terminal", "--shared")
        yield a, b, token


@pytest.fixture
def trusting(browser: Any, two: tuple[Home, Home, str]) -> Iterator[Any]:
    """Chromium trusting both homes' own certificates."""
    a, b, _ = two
    with served.chromium_trusting(browser, (a.served.cert, b.served.cert)) as launched:  # type: ignore[arg-type]
        yield launched


def cut_off(context: Any, a: Home) -> list[str]:
    """The terminal's browser cannot reach A: every request to A's origin fails as an
    unreachable network would; the list fills with what it tried."""
    tried: list[str] = []
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(a.url))

    def abort(route: Any) -> None:
        tried.append(route.request.url)
        route.abort("addressunreachable")

    context.route(lambda url: url.startswith(origin), abort)
    return tried


def start_device_sign_in(page: Any, b: Home) -> str:
    """From B's picker to the waiting page: the user code it shows."""
    page.goto(b.url + "/visit")
    assert (
        page.locator("h2").first.inner_text()
        == "Je ne peux pas joindre ma maison depuis ce terminal"
    )
    page.click("ul.device-homes button:has-text('A')")
    page.wait_for_url(b.url + "/visit/device")
    code = page.locator(".user-code").inner_text().strip()
    assert re.fullmatch(r"[B-Z]{4}-[B-Z]{4}", code), code
    return code


def test_a_terminal_that_cannot_reach_home_opens_the_visit_approved_from_a_phone(
    trusting: Any, two: tuple[Home, Home, str]
) -> None:
    a, b, _ = two
    terminal = trusting.new_context(locale="fr-FR")
    tried = cut_off(terminal, a)
    page = terminal.new_page()
    enrol_terminal(page, b)
    sent: list[str] = []
    page.on("request", lambda asked: sent.append(asked.post_data or ""))
    code = start_device_sign_in(page, b)
    main = page.locator("main").inner_text()
    assert a.url + PAGE in main and "jamais votre mot de passe" in main
    assert page.locator("svg.qr").count() == 1 and page.locator("input[type=password]").count() == 0

    # The terminal's browser really cannot reach A: its sign-in page does not load there.
    with pytest.raises(Exception, match="ERR_ADDRESS_UNREACHABLE"):
        terminal.new_page().goto(a.url + PAGE)
    assert tried

    # On her phone (which reaches A), Ada logs in at home and approves the code.
    phone = log_in_page(trusting, a.url, "ada")
    phone.goto(a.url + PAGE)
    phone.fill("input[name=user_code]", code.lower().replace("-", ""))
    phone.click("main form button[type=submit]")
    asking = phone.locator("#asking").inner_text()
    assert (
        asking
        == "Le terminal « Terminal du hall » de la maison B demande à ouvrir votre environnement."
    )
    phone.click("button[value=approve]")
    assert "Accepté" in phone.locator("main").inner_text()

    # The terminal's page, polling B, opens her environment by itself; the relay carries it.
    page.wait_for_url(b.url + "/", timeout=30_000)
    assert sorted(c["name"] for c in terminal.cookies()) == ["hameau_device", "hameau_visit"]
    page.goto(b.url + "/files/mine/")
    assert page.locator(f"a:has-text('{SECRET_FILE}')").count() == 1
    assert not any(PASSWORD in body or PASSWORD.replace(" ", "+") in body for body in sent)
    with sqlite3.connect(Layout(a.data_dir).database) as db:
        assert list(db.execute("SELECT device_label, ended_at FROM hamlet_visits")) == [
            (TERMINAL, None)
        ]
    terminal.close()


def test_a_refused_then_expired_code_is_said_in_words_with_a_new_one_offered(
    trusting: Any, two: tuple[Home, Home, str]
) -> None:
    a, b, _ = two
    terminal = trusting.new_context(locale="fr-FR", java_script_enabled=False)
    cut_off(terminal, a)
    page = terminal.new_page()
    enrol_terminal(page, b)
    code = start_device_sign_in(page, b)
    assert page.locator("noscript").count() >= 1  # without scripts, a meta refresh asks again

    phone = log_in_page(trusting, a.url, "ada")
    phone.goto(a.url + PAGE + "?user_code=" + code)
    phone.click("button[value=refuse]")
    assert "Refusé" in phone.locator("main").inner_text()
    page.get_by_text("refusée depuis votre maison").wait_for(timeout=30_000)
    assert [c["name"] for c in terminal.cookies()] == ["hameau_device"]  # nothing of it left
    page.click("text=Obtenir un nouveau code")
    second = page.locator(".user-code").inner_text().strip()
    assert second != code
    with sqlite3.connect(Layout(a.data_dir).database) as db:
        db.execute(
            "UPDATE hamlet_visit_devices SET expires_at = '2000-01-01 00:00:00.000000'"
            " WHERE approved IS NULL"
        )
    page.get_by_text("Le code a expiré").wait_for(timeout=30_000)
    with sqlite3.connect(Layout(a.data_dir).database) as db:
        assert list(db.execute("SELECT id FROM hamlet_visits")) == []
    terminal.close()
