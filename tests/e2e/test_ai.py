"""The local AI through the official `openai` client, against a real `hameau serve`, with the
default model (Gemma 3 270M, from its PyPI package) running on the CPU — each test twice: with
llama.cpp's own server as the node's child process (the default), and with llama-cpp-python
in the node (an optional extra: "not run" when it is not installed)."""

from __future__ import annotations

import concurrent.futures
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from hameau.accounts import members, tokens
from hameau.ai import history
from hameau.node.db import transaction
from hameau.notes import service as notes
from tests.ai import needs
from tests.e2e.served import Served, serve
from tests.helpers import add_member, make_node

pytestmark = pytest.mark.e2e
MODEL = "gemma-3-270m"
DIMENSION = 640  # Gemma 3 270M's embedding length (its GGUF's gemma3.embedding_length)


RUNTIMES = ["llama-server", "llama-cpp-python"]


@pytest.fixture(scope="module", params=RUNTIMES)
def node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, dict[str, str]]]:
    if request.param == "llama-server":
        from hameau.ai import build

        assert build.find_binary(), "llama-server is missing: run `make llama-server`"
    else:
        needs.llama_cpp_python()
    root = tmp_path_factory.mktemp("ai") / "node"
    made = make_node(root)
    keys = {}
    for name in ("alex", "sam"):
        add_member(made, name)
        with transaction(made.sessions) as session:
            member = members.find_member(session, name)
            keys[name] = tokens.create_token(session, member, "ai")[1]
            if name == "alex":
                notes.create(session, member, "Portail\n\nLe code du portail du jardin est 4512.\n")
    made.close()
    (root / "models").mkdir()
    (root / "models" / "abime.gguf").write_bytes(b"GGUF" + b"\x00" * 64)  # a corrupted model
    env = {"HAMEAU_AI_QUEUE": "3", "HAMEAU_AI_MAX_TOKENS": "24", "HAMEAU_AI_IDLE_SECONDS": "4",
           "HAMEAU_AI_RUNTIME": request.param}  # fmt: skip
    with serve(root, env=env) as served:
        yield served, keys


def client(node: Served, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=node.url + "/v1", api_key=key, max_retries=0, timeout=120)


def test_models_chat_streamed_and_not_completions_and_embeddings(
    node: tuple[Served, dict[str, str]],
) -> None:
    served, keys = node
    ai = client(served, keys["alex"])
    assert {model.id for model in ai.models.list().data} == {MODEL, "abime"}
    said = ai.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Say hello."}], max_tokens=8
    )
    assert said.choices[0].message.content and said.usage is not None
    assert said.usage.completion_tokens > 0
    pieces = [
        chunk.choices[0].delta.content or ""
        for chunk in ai.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Count to five."}],
            max_tokens=8, stream=True,
        )
    ]  # fmt: skip
    assert len([piece for piece in pieces if piece]) >= 2
    completed = ai.completions.create(model=MODEL, prompt="The sky is", max_tokens=6)
    assert completed.choices[0].text
    vectors = ai.embeddings.create(model=MODEL, input=["bonjour", "au revoir"])
    assert [len(item.embedding) for item in vectors.data] == [DIMENSION, DIMENSION]
    assert vectors.data[0].embedding != vectors.data[1].embedding
    paragraph = (  # one text of a paragraph, as a client indexing notes sends it
        "La tarte aux pommes de Mamie : éplucher six pommes, les couper en lamelles, les"
        " poser sur la pâte, saupoudrer de sucre et de cannelle. Cuire 35 minutes à 180"
        " degrés, puis laisser tiédir avant de servir avec une boule de glace à la vanille."
        " Elle se garde deux jours sous un torchon, et se réchauffe dix minutes au four."
    )
    assert len(paragraph) > 256
    one = ai.embeddings.create(model=MODEL, input=paragraph)
    assert [len(item.embedding) for item in one.data] == [DIMENSION]


def served_node(served: Served):  # type: ignore[no-untyped-def]
    from hameau.config import Settings
    from hameau.node.datadir import open_node

    return open_node(Settings(data_dir=served.data_dir), upgrade=False)


def test_nothing_answers_without_a_valid_app_password(node: tuple[Served, dict[str, str]]) -> None:
    served, _keys = node
    for key in ("hm_not-a-real-one", "nothing"):
        with pytest.raises(openai.AuthenticationError):
            client(served, key).models.list()
    with pytest.raises(openai.AuthenticationError):
        client(served, "hm_wrong").chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )


def test_retrieval_cites_the_askers_own_note_only(node: tuple[Served, dict[str, str]]) -> None:
    served, keys = node
    question = [{"role": "user", "content": "Quel est le code du portail du jardin ?"}]
    mine = client(served, keys["alex"]).chat.completions.create(
        model=MODEL, messages=question, max_tokens=8, extra_body={"retrieval": True}
    )
    assert [source["title"] for source in mine.model_extra["sources"]] == ["Portail"]
    theirs = client(served, keys["sam"]).chat.completions.create(
        model=MODEL, messages=question, max_tokens=8, extra_body={"retrieval": True}
    )
    assert theirs.model_extra["sources"] == []


def test_hostile_requests_are_refused_and_the_node_stays_up(
    node: tuple[Served, dict[str, str]],
) -> None:
    served, keys = node
    ai = client(served, keys["alex"])
    with pytest.raises(openai.APIStatusError) as huge:
        ai.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x" * (1 << 20)}]
        )
    assert huge.value.status_code == 413
    with pytest.raises(openai.APIStatusError) as broken:
        ai.chat.completions.create(model="abime", messages=[{"role": "user", "content": "hi"}])
    assert broken.value.status_code == 503  # in the node's language (French by default):
    assert "indisponible parce que le modèle abime n’a pas pu être chargé" in str(broken.value)

    def ask(number: int) -> int:
        try:
            client(served, keys["alex"]).chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": f"Say {number}."}], max_tokens=4
            )
        except openai.APIStatusError as error:
            assert error.status_code == 503 and error.response.headers["Retry-After"]
            return 503
        return 200

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(ask, range(50)))
    assert set(answers) <= {200, 503} and 200 in answers and 503 in answers
    with urllib.request.urlopen(served.url + "/healthz") as health:
        assert health.status == 200
    assert (
        ai.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Still there?"}], max_tokens=4
        )
        .choices[0]
        .message.content
        is not None
    )


def test_every_query_is_in_the_members_own_history(
    node: tuple[Served, dict[str, str]], tmp_path: Path
) -> None:
    served, keys = node
    client(served, keys["sam"]).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Une question de Sam"}], max_tokens=4
    )
    opened = served_node(served)
    with opened.sessions() as session:
        sam = members.find_member(session, "sam")
        alex = members.find_member(session, "alex")
        kept = history.of(session, sam.id)
        assert kept[0].question == "Une question de Sam" and kept[0].model == MODEL
        assert kept[0].completion_tokens > 0 and kept[0].duration_ms > 0 and kept[0].energy_wh > 0
        assert all(
            query.question != "Une question de Sam" for query in history.of(session, alex.id)
        )
        assert history.sent_outside(session) == 0
    opened.close()


def test_the_chat_page_streams_an_answer_with_its_sources_and_the_history_can_be_deleted(
    node: tuple[Served, dict[str, str]],
    browser,  # type: ignore[no-untyped-def]
) -> None:
    from tests.e2e.served import log_in_page
    from tests.helpers import PASSWORD

    served, keys = node
    page = log_in_page(browser, served.url, "alex", PASSWORD)
    page.goto(served.url + "/ai")
    assert "Requêtes que cette IA a envoyées hors du serveur de la maison : 0." in page.content()
    page.fill("textarea[name=question]", "Quel est le code du portail ?")
    page.click("#ask button[type=submit]")  # htmx posts, then the answer streams by SSE
    card = page.locator("#answers .answer-card").first
    card.locator(".sources li").wait_for(timeout=120_000)  # found at once, before the answer
    assert card.locator(".question").inner_text() == "Quel est le code du portail ?"
    assert "Portail" in card.locator(".sources").inner_text()
    assert "Le code du portail du jardin est 4512." in card.locator(".passage").all_inner_texts()
    card.get_by_text("mWh (une estimation)").wait_for(timeout=120_000)
    assert card.locator(".answer").inner_text().strip()
    assert page.url == served.url + "/ai"  # the page stayed; nothing reloaded
    page.goto(served.url + "/ai/history")
    assert "Quel est le code du portail ?" in page.content() and "mWh" in page.content()
    page.click("form[action='/ai/history/delete'] button")
    page.wait_for_load_state()
    assert "Quel est le code du portail ?" not in page.content()
    # A model that cannot load: the page says why, and the rest of the node works.
    with pytest.raises(openai.APIStatusError):
        client(served, keys["alex"]).chat.completions.create(
            model="abime", messages=[{"role": "user", "content": "hi"}]
        )
    page.goto(served.url + "/ai")
    assert "L’IA est indisponible parce que le modèle abime n’a pas pu être chargé" in (
        page.content()
    )
    page.goto(served.url + "/notes")
    assert page.locator("h1").count() == 1
    page.close()


def test_the_model_is_unloaded_when_idle(node: tuple[Served, dict[str, str]]) -> None:
    import time

    served, keys = node
    ai = client(served, keys["alex"])
    ai.completions.create(model=MODEL, prompt="Bonjour", max_tokens=2)
    assert [m.model_extra["loaded"] for m in ai.models.list().data if m.id == MODEL] == [True]

    def listed() -> str:
        import subprocess
        import sys

        return subprocess.run(
            [sys.executable, "-m", "hameau", "ai", "models", "--data-dir", str(served.data_dir)],
            capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "200"},
        ).stdout  # fmt: skip

    row = next(line for line in listed().splitlines() if MODEL in line)
    assert "253 MB" in row and "│ yes " in row  # loaded, by the server
    deadline = time.monotonic() + 60  # unloaded 4 s after the last use (a timer, not a poll)
    while time.monotonic() < deadline:
        if [m.model_extra["loaded"] for m in ai.models.list().data if m.id == MODEL] == [False]:
            break
        time.sleep(1)
    else:
        raise AssertionError("the model stayed loaded")
    row = next(line for line in listed().splitlines() if MODEL in line)
    assert "│ no " in row


def test_a_node_can_send_its_ai_requests_to_a_household_server(
    node: tuple[Served, dict[str, str]], tmp_path: Path
) -> None:
    """Another hameau node plays the household's OpenAI-compatible server (as Ollama would)."""
    served, keys = node
    front = make_node(tmp_path / "front")
    add_member(front, "alex")
    with transaction(front.sessions) as session:
        key = tokens.create_token(session, members.find_member(session, "alex"), "ai")[1]
        notes.create(
            session, members.find_member(session, "alex"), "Vélo\n\nLe cadenas du vélo : 2207.\n"
        )
    front.close()
    env = {"HAMEAU_AI_BACKEND_URL": served.url + "/v1", "HAMEAU_AI_BACKEND_KEY": keys["sam"]}
    with serve(tmp_path / "front", env=env) as forwarding:
        ai = client(forwarding, key)
        assert {model.id for model in ai.models.list().data} == {MODEL, "abime"}
        said = ai.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Quel est le cadenas du vélo ?"}],
            max_tokens=4, extra_body={"retrieval": True},
        )  # fmt: skip
        assert said.choices[0].message.content is not None
        assert [source["title"] for source in said.model_extra["sources"]] == ["Vélo"]
        streamed = ai.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Bonjour"}],
            max_tokens=4,
            stream=True,
        )
        assert "".join(chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices)
        opened = served_node(forwarding)
        with opened.sessions() as session:
            assert history.sent_outside(session) == 2
            kept = history.of(session, members.find_member(session, "alex").id)
            assert {query.ran_on for query in kept} == {served.url + "/v1"}
        opened.close()
    # A question the household's server refuses has still left the node: it is in the history.
    env["HAMEAU_AI_BACKEND_KEY"] = "not-a-key"
    with serve(tmp_path / "front", env=env) as refused:
        with pytest.raises(openai.APIStatusError):
            client(refused, key).chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Question refusée là-bas"}]
            )
        opened = served_node(refused)
        with opened.sessions() as session:
            kept = history.of(session, members.find_member(session, "alex").id)
            assert "Question refusée là-bas" in {query.question for query in kept}
            assert history.sent_outside(session) == 3
        opened.close()


def test_ask_from_the_command_line_cites_sources_and_keeps_the_history(
    node: tuple[Served, dict[str, str]], request: pytest.FixtureRequest
) -> None:
    import subprocess
    import sys

    served, _keys = node
    runtime = request.node.callspec.params["node"]  # the same engine as the served node
    done = subprocess.run(
        [sys.executable, "-m", "hameau", "ai", "ask", "Quel est le code du portail du jardin ?",
         "--member", "alex", "--data-dir", str(served.data_dir)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "HAMEAU_AI_RUNTIME": runtime, "HAMEAU_AI_MAX_TOKENS": "8"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "[1] note: Portail" in done.stdout and "kept in alex's AI history" in done.stdout
    opened = served_node(served)
    with opened.sessions() as session:
        kept = history.of(session, members.find_member(session, "alex").id)
        assert kept[0].kind == "ask" and kept[0].completion_tokens > 0
    opened.close()
    unknown = subprocess.run(
        [sys.executable, "-m", "hameau", "ai", "ask", "?", "--member", "nobody",
         "--data-dir", str(served.data_dir)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert unknown.returncode != 0 and len(unknown.stderr.strip().splitlines()) == 1
