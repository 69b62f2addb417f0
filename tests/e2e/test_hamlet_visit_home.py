"""Visits, the home's side, across real nodes (`hameau serve` processes, paired with the
command line): node A is the visitor's home (the OpenID Connect provider), B and C are paired
homes whose shared terminals a member of A uses. The tests drive A as B's node would, with
httpx and B's own key: the sign-in page, the signed token exchange, the id_token checked with
A's published key, relayed requests as the member on a shared device; and every way a visit
must be refused."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from hameau.hamlet.answers import check_answer
from hameau.hamlet.signer import Signer
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.helpers import PASSWORD

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:EdDSA is deprecated"),  # the contract's alg, RFC 8037
]
AUTHORIZE = "/hamlet/visit/authorize"
TOKEN = "/api/hamlet/visit/token"
REVOKE = "/api/hamlet/visit/revoke"
ENDED = "This visit has ended; sign in again from the terminal."


def cli(home: Home, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hameau", *args, "--data-dir", str(home.data_dir)],
        input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Home]]:
    with hamlet(tmp_path_factory.mktemp("visits")) as found:
        for name, display in (("ana", "Ana Visitor"), ("bob", "Bob")):
            made = cli(
                found["A"], "member", "add", name, "--password-stdin", "--display-name", display,
                stdin=PASSWORD + "\n",
            )  # fmt: skip
            assert made.returncode == 0, made.stderr
        yield found


@dataclass
class SignIn:
    """What the terminal of `by` keeps during a sign-in: PKCE's verifier, the nonce."""

    by: Home
    verifier: str
    nonce: str
    state: str

    @classmethod
    def new(cls, by: Home) -> SignIn:
        return cls(
            by, secrets.token_urlsafe(48), secrets.token_urlsafe(12), "s" + secrets.token_hex(6)
        )

    @property
    def redirect_uri(self) -> str:
        return self.by.url + "/visit/callback"

    def params(self, **changes: str | None) -> dict[str, str]:
        challenge = hashlib.sha256(self.verifier.encode()).digest()
        given: dict[str, str | None] = {
            "response_type": "code", "client_id": self.by.node_id,
            "redirect_uri": self.redirect_uri, "scope": "openid", "state": self.state,
            "nonce": self.nonce, "device": "Kitchen tablet",
            "code_challenge": base64.urlsafe_b64encode(challenge).decode().rstrip("="),
            "code_challenge_method": "S256", **changes,
        }  # fmt: skip
        return {key: value for key, value in given.items() if value is not None}


def browse(home: Home) -> httpx.Client:
    """The terminal's browser, straight to A (no cookies kept between tests)."""
    return httpx.Client(
        base_url=home.url, headers={"Accept-Language": "en"}, timeout=30, verify=home.verify
    )


def sign_in(
    a: Home, signing_in: SignIn, name: str = "ana", password: str = PASSWORD
) -> httpx.Response:
    """The sign-in page, then its form posted: A's answer to the form."""
    with browse(a) as browser:
        page = browser.get(AUTHORIZE, params=signing_in.params())
        assert page.status_code == 200, page.text
        assert "set-cookie" not in page.headers
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        return browser.post(
            AUTHORIZE, params=signing_in.params(),
            data={"csrf_token": token.group(1), "name": name, "password": password},
        )  # fmt: skip


def code_of(answer: httpx.Response, signing_in: SignIn) -> str:
    assert answer.status_code == 302, answer.text
    assert "set-cookie" not in answer.headers  # the terminal keeps nothing of A
    target = urlsplit(answer.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == signing_in.redirect_uri
    query = parse_qs(target.query)
    assert query["state"] == [signing_in.state]
    return query["code"][0]


def signed(by: Home, to: Home, check: bool = True) -> httpx.Client:
    """A client of `by`'s node toward `to`, every request signed with `by`'s key (as its node
    does); answers checked against `to`'s key when `check`."""
    key = to.key().public_key()
    checker = (
        (lambda answer, nonce: check_answer(answer, key, to.node_id, nonce)) if check else None
    )
    return httpx.Client(
        base_url=to.url, auth=Signer(by.node_id, by.key(), to.node_id, checker),
        headers={"Accept-Language": "en"}, timeout=30, verify=to.verify,
    )  # fmt: skip


def exchange(by: Home, a: Home, code: str, signing_in: SignIn, **changes: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code", "code": code,
        "redirect_uri": signing_in.redirect_uri, "code_verifier": signing_in.verifier,
        "client_id": by.node_id, **changes,
    }  # fmt: skip
    with signed(by, a) as client:
        return client.post(TOKEN, data=form)


def visit(a: Home, by: Home, name: str = "ana") -> str:
    """A whole sign-in from `by`'s terminal: the visit's access token."""
    signing_in = SignIn.new(by)
    answer = exchange(by, a, code_of(sign_in(a, signing_in, name), signing_in), signing_in)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def relayed(
    by: Home, a: Home, token: str, method: str = "GET", path: str = "/files/mine/", **options: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **options.pop("headers", {})}
    with signed(by, a, check=False) as client:  # pages are not signed answers
        return client.request(method, path, headers=headers, **options)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_a_visit_from_sign_in_to_the_members_files_as_on_a_shared_device(
    homes: dict[str, Home],
) -> None:
    a, b = homes["A"], homes["B"]
    signing_in = SignIn.new(b)
    with browse(a) as browser:
        page = browser.get(AUTHORIZE, params=signing_in.params())
    assert "Sign in at A to use the shared terminal “Kitchen tablet” of B." in page.text
    assert "form-action 'self' " + b.url in page.headers["content-security-policy"]
    with httpx.Client(
        base_url=a.url, headers={"Accept-Language": "fr"}, verify=a.verify
    ) as browser:
        french = browser.get(AUTHORIZE, params=signing_in.params()).text
    assert (
        "Connectez-vous chez A pour utiliser le terminal partagé « Kitchen tablet » de B" in french
    )
    code = code_of(sign_in(a, signing_in), signing_in)
    answer = exchange(b, a, code, signing_in)  # its signature checked against A's key
    assert answer.status_code == 200, answer.text
    given = answer.json()
    assert given["token_type"] == "Bearer" and given["scope"] == "openid"
    assert given["expires_in"] > 0 and given["access_token"].startswith("hv_")

    discovery = httpx.get(a.url + "/.well-known/openid-configuration", verify=a.verify).json()
    assert discovery["issuer"] == a.url
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    keys = KeySet.import_key_set(httpx.get(discovery["jwks_uri"], verify=a.verify).json())
    token = jwt.decode(given["id_token"], keys, algorithms=["EdDSA"])
    assert token.header["kid"] == a.node_id
    claims = token.claims
    assert claims["iss"] == a.url and claims["aud"] == b.node_id
    assert claims["name"] == "Ana Visitor" and claims["nonce"] == signing_in.nonce
    assert len(claims["sub"]) == 32 and "ana" not in claims["sub"]
    # The same member from another terminal of B: the same pseudonym, never her id.
    again = SignIn.new(b)
    second = exchange(b, a, code_of(sign_in(a, again), again), again).json()
    assert jwt.decode(second["id_token"], keys, algorithms=["EdDSA"]).claims["sub"] == claims["sub"]

    access = given["access_token"]
    files = relayed(b, a, access)
    assert files.status_code == 200, files.text
    assert "set-cookie" not in files.headers
    assert "<title>A</title>" in files.text  # a shared device's title names nothing of hers
    assert "idle.js" in files.text and "Ana Visitor" in files.text
    # A relayed upload (a streamed body) with the visit's CSRF token, then it is listed.
    put = relayed(
        b, a, access, "PUT", "/api/files/mine/hello.txt", content=b"hello from B",
        headers={"X-CSRF-Token": csrf_of(files.text), "Content-Type": "text/plain"},
    )  # fmt: skip
    assert put.status_code == 201, put.text
    assert "hello.txt" in relayed(b, a, access).text
    without_token = relayed(b, a, access, "PUT", "/api/files/mine/other.txt", content=b"x")
    assert without_token.status_code == 403
    # A streamed body changed after B signed it: refused, nothing written.
    headers = {"Authorization": f"Bearer {access}", "X-CSRF-Token": csrf_of(files.text)}
    asked = httpx.Request(
        "PUT", a.url + "/api/files/mine/tampered-body.txt", content=b"signed", headers=headers
    )
    sent = next(Signer(b.node_id, b.key(), a.node_id).auth_flow(asked))
    tampered = httpx.Request("PUT", sent.url, content=b"SIGNED", headers=sent.headers)
    with httpx.Client(timeout=30, verify=a.verify) as client:
        assert client.send(tampered).status_code == 401
    assert "tampered-body.txt" not in relayed(b, a, access).text
    # A form through the relay: a new folder, with the page's token.
    folder = relayed(
        b, a, access, "POST", "/files/folder",
        data={"csrf_token": csrf_of(files.text), "space": "mine", "path": "", "name": "Trip"},
    )  # fmt: skip
    assert folder.status_code in (200, 303), folder.text
    assert "set-cookie" not in folder.headers
    assert "Trip" in relayed(b, a, access).text


def test_sign_in_links_that_are_not_a_paired_terminals_are_refused(homes: dict[str, Home]) -> None:
    a, b = homes["A"], homes["B"]
    signing_in = SignIn.new(b)
    with browse(a) as browser:
        for changes, said in (
            ({"code_challenge": None, "code_challenge_method": None}, "PKCE"),
            ({"code_challenge_method": "plain"}, "PKCE"),
            ({"redirect_uri": a.url + "/visit/callback"}, "does not lead back"),
            ({"client_id": "nosuchnode"}, "not paired"),
        ):
            page = browser.get(AUTHORIZE, params=signing_in.params(**changes))
            assert page.status_code == 400, changes
            assert said in page.text
            assert "set-cookie" not in page.headers


def test_a_wrong_password_shows_the_form_again_and_is_rate_limited(homes: dict[str, Home]) -> None:
    a, b = homes["A"], homes["B"]
    signing_in = SignIn.new(b)
    wrong = sign_in(a, signing_in, "bob", "wrong password")
    assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
    assert 'name="password"' in wrong.text and "set-cookie" not in wrong.headers
    for _ in range(12):
        wrong = sign_in(a, signing_in, "bob", "wrong password")
        if wrong.status_code == 429:
            break
    assert wrong.status_code == 429 and "Too many failed logins" in wrong.text
    # Locked out, even with the right password: the login form's own limits.
    assert sign_in(a, signing_in, "bob", PASSWORD).status_code == 429


def test_codes_are_used_once_with_the_right_verifier_by_the_peer_they_were_given_to(
    homes: dict[str, Home],
) -> None:
    a, b, c = homes["A"], homes["B"], homes["C"]
    signing_in = SignIn.new(b)
    code = code_of(sign_in(a, signing_in), signing_in)
    wrong = exchange(b, a, code, signing_in, code_verifier=secrets.token_urlsafe(48))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert exchange(b, a, code, signing_in).status_code == 400  # spent by the failed try

    signing_in = SignIn.new(b)
    code = code_of(sign_in(a, signing_in), signing_in)
    assert exchange(b, a, code, signing_in).status_code == 200
    reused = exchange(b, a, code, signing_in)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

    by_c = SignIn.new(c)  # a code C's terminal got, brought by B
    code = code_of(sign_in(a, by_c), by_c)
    stolen = exchange(
        b, a, code, by_c, client_id=b.node_id, redirect_uri=SignIn.new(b).redirect_uri
    )
    assert stolen.status_code == 400
    claimed = exchange(b, a, code, by_c, client_id=c.node_id)  # B signs, C is named
    assert claimed.status_code in (400, 401)

    with httpx.Client(base_url=a.url, verify=a.verify) as unsigned:
        refused = unsigned.post(TOKEN, data={"grant_type": "authorization_code"})
        assert refused.status_code in (401, 403)  # no signature, and no form token either


def test_a_token_works_only_signed_by_its_peer_and_until_the_visit_ends(
    homes: dict[str, Home],
) -> None:
    a, b, c = homes["A"], homes["B"], homes["C"]
    access = visit(a, b)
    assert relayed(b, a, access).status_code == 200
    by_c = relayed(c, a, access)
    assert by_c.status_code == 401 and ENDED in by_c.text
    with httpx.Client(base_url=a.url, verify=a.verify) as unsigned:  # the token alone is nothing
        bare = unsigned.get("/files/", headers={"Authorization": f"Bearer {access}"})
        assert bare.status_code == 401 and "set-cookie" not in bare.headers
    assert relayed(b, a, "hv_" + secrets.token_urlsafe(32)).status_code == 401

    # The terminal ends it (RFC 7009: unknown tokens answer 200 too).
    with signed(b, a) as client:
        assert client.post(REVOKE, data={"token": access}).status_code == 200
        assert client.post(REVOKE, data={"token": "hv_unknown"}).status_code == 200
    ended = relayed(b, a, access)
    assert ended.status_code == 401 and ENDED in ended.text

    # Logging out through the relay ends the visit too.
    access = visit(a, b)
    page = relayed(b, a, access)
    out = relayed(b, a, access, "POST", "/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303 and "set-cookie" not in out.headers
    assert relayed(b, a, access).status_code == 401


def test_the_member_sees_her_visits_and_ends_one_from_home(homes: dict[str, Home]) -> None:
    a, b = homes["A"], homes["B"]
    access = visit(a, b)
    with browse(a) as browser:  # Ana at home, in her own browser
        login = browser.get("/login")
        browser.post(
            "/login", data={"csrf_token": csrf_of(login.text), "name": "ana", "password": PASSWORD}
        )
        page = browser.get("/account/sessions")
        assert "Visits from other homes" in page.text and "Kitchen tablet" in page.text
        ongoing = re.search(r'action="(/account/visits/\d+/end)"', page.text)
        assert ongoing is not None
        ended = browser.post(ongoing.group(1), data={"csrf_token": csrf_of(page.text)})
        assert ended.status_code == 303
    refused = relayed(b, a, access)
    assert refused.status_code == 401 and ENDED in refused.text
    listed = cli(a, "hamlet", "visits", "ana")
    assert listed.returncode == 0, listed.stderr
    assert "ended (member)" in listed.stdout and "Kitchen tablet" in listed.stdout


def test_a_peer_left_cannot_use_its_visits(homes: dict[str, Home]) -> None:
    a, c = homes["A"], homes["C"]
    access = visit(a, c)
    assert relayed(c, a, access).status_code == 200
    left = cli(a, "hamlet", "leave", "C")
    assert left.returncode == 0, left.stderr
    assert relayed(c, a, access).status_code == 401
    assert "ended (left)" in cli(a, "hamlet", "visits", "ana").stdout
    signing_in = SignIn.new(c)
    with browse(a) as browser:
        assert browser.get(AUTHORIZE, params=signing_in.params()).status_code == 400
