"""The AI page's question and its answer stream: a question posted by htmx is kept under a
one-use key that only its member can open; anything else gets its reason in the stream."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hameau.node.datadir import Node
from tests.helpers import csrf_header, members_logged_in


def test_a_posted_question_streams_only_to_its_member(tmp_path: Path) -> None:
    from tests.e2e.served import free_port
    from tests.helpers import make_node

    # The household's AI server, down: the question is kept all the same (no model needed).
    node = make_node(tmp_path / "node", ai_backend_url=f"http://127.0.0.1:{free_port()}/v1")
    alex, sam = members_logged_in(node, "alex", "sam")
    posted = alex.post(
        "/ai",
        data={"question": "Quand semer les radis ?", "retrieval": "1"},
        headers={"HX-Request": "true", **csrf_header(alex)},
    )
    assert posted.status_code == 200
    assert "Quand semer les radis ?" in posted.text
    stream = re.search(r'sse-connect="(/ai/answers/[^"]+)"', posted.text)
    assert stream is not None
    for visitor, path in ((sam, stream.group(1)), (alex, "/ai/answers/not-a-key")):
        said = visitor.get(path)
        assert said.status_code == 200 and said.headers["content-type"].startswith(
            "text/event-stream"
        )
        assert "event: status\ndata: Cette question a déjà reçu sa réponse ou a expiré" in said.text
        assert said.text.endswith("event: done\ndata: \n\n")
        assert "event: piece" not in said.text
    answered = alex.get(stream.group(1)).text  # its member's: taken (the server is down)
    assert "event: status" in answered and "a expiré" not in answered
    assert "a expiré" in alex.get(stream.group(1)).text  # once
    node.close()


def test_the_answer_stream_needs_a_login(node: Node) -> None:
    (alex,) = members_logged_in(node, "alex")
    alex.post("/logout", headers=csrf_header(alex))
    assert alex.get("/ai/answers/anything", follow_redirects=False).status_code in (303, 401)


def test_a_missing_llama_server_is_said_on_the_api_and_the_page(tmp_path: Path) -> None:
    from tests.helpers import make_node

    made = make_node(tmp_path / "node", ai_runtime="llama-server", ai_server=str(tmp_path / "no"))
    try:
        (alex,) = members_logged_in(made, "alex")
        refused = alex.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "Bonjour"}]},
            headers=csrf_header(alex),
        )
        assert refused.status_code == 503
        assert (
            "llama-server n’est pas installé : lancez `hameau ai install-server`"
            in (refused.json()["error"]["message"])
        )
        page = alex.get("/ai").text
        assert "L’IA est indisponible parce que llama-server n’est pas installé" in page
        assert "Moteur : llama-server (pas installé)." in page
    finally:
        made.close()


def test_without_scripts_the_form_posts_and_gets_the_whole_answer(tmp_path: Path) -> None:
    from hameau.accounts import members
    from hameau.ai import history
    from hameau.ai.runtime import missing
    from tests.helpers import make_node

    made = make_node(tmp_path / "node", ai_max_tokens=4)  # the default engine: llama-server
    try:
        why = missing(made)
        if why is not None:
            pytest.skip(f"not run: {why.render(lambda text: text)}")
        (alex,) = members_logged_in(made, "alex")
        page = alex.post(
            "/ai", data={"question": "Bonjour ?"}, headers=csrf_header(alex)
        )  # no HX-Request: a plain form post
        assert page.status_code == 200
        answer = re.search(r'<p class="answer">([^<]*)</p>', page.text)
        assert answer is not None and answer.group(1).strip()
        with made.sessions() as session:
            kept = history.of(session, members.find_member(session, "alex").id)
            assert [query.question for query in kept] == ["Bonjour ?"]
    finally:
        made.close()


def _said_unavailable(alex, sentence: str) -> None:  # type: ignore[no-untyped-def]
    """The reason and the command, on the page (the form only searches the member's
    documents), from the form posted by htmx (a 200 fragment, which htmx shows), and by
    /v1/models in OpenAI's shape."""
    import html

    page = alex.get("/ai")
    assert page.status_code == 200
    shown = html.unescape(page.text)
    assert f"L’IA est indisponible parce que {sentence}" in shown
    assert re.search(r'<button type="submit"[^>]*>Chercher dans mes documents</button>', page.text)
    assert ">Demander</button>" not in page.text
    posted = alex.post(
        "/ai", data={"question": "Bonjour ?"}, headers={"HX-Request": "true", **csrf_header(alex)}
    )
    assert posted.status_code == 200
    assert f"L’IA est indisponible parce que {sentence}" in html.unescape(posted.text)
    listed = alex.get("/v1/models")
    assert listed.status_code == 503
    assert sentence in listed.json()["error"]["message"]


def test_without_any_model_the_page_and_the_api_say_what_to_run(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """No GGUF file in models/ and the default model's package not importable (blocked in
    sys.modules, as if it was never installed)."""
    import sys

    from hameau.ai import catalog
    from tests.helpers import make_node

    monkeypatch.setitem(sys.modules, catalog.PACKAGE, None)
    made = make_node(tmp_path / "node")
    try:
        (alex,) = members_logged_in(made, "alex")
        _said_unavailable(
            alex, "le serveur de la maison n’a aucun modèle : lancez `pip install 'hameau[ai]'`"
        )
        refused = alex.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "Bonjour"}]},
            headers=csrf_header(alex),
        )
        assert refused.status_code == 503
        assert "aucun modèle" in refused.json()["error"]["message"]
    finally:
        made.close()


def test_a_missing_llama_server_is_said_before_anything_is_asked(tmp_path: Path) -> None:
    from tests.helpers import make_node

    made = make_node(tmp_path / "node", ai_runtime="llama-server", ai_server=str(tmp_path / "no"))
    try:
        (alex,) = members_logged_in(made, "alex")
        _said_unavailable(
            alex, "llama-server n’est pas installé : lancez `hameau ai install-server`"
        )
    finally:
        made.close()


def test_without_llama_cpp_python_the_page_says_what_to_run(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sys

    from tests.helpers import make_node

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if it was never installed
    made = make_node(tmp_path / "node", ai_runtime="llama-cpp-python")
    try:
        (alex,) = members_logged_in(made, "alex")
        _said_unavailable(
            alex,
            "llama-cpp-python n’est pas installé : lancez `pip install 'hameau[llama-cpp]'`",
        )
        assert "Moteur : llama-cpp-python (pas installé)." in alex.get("/ai").text
    finally:
        made.close()


def test_stop_sequences_past_what_clients_send_are_refused_in_words(node: Node) -> None:
    """Each stop sequence is looked for after every token: a list of thousands is refused
    before any engine is asked, in OpenAI's error shape; a few, or one, pass the door (the
    engine, missing here, then answers 503)."""
    (alex,) = members_logged_in(node, "alex")
    ask = {"messages": [{"role": "user", "content": "Bonjour"}], "max_tokens": 4}
    for stop in (["fin"] * 5000, ["x" * 1000]):
        refused = alex.post("/v1/chat/completions", json={**ask, "stop": stop},
                            headers=csrf_header(alex))  # fmt: skip
        assert refused.status_code == 422
        said = refused.json()["error"]["message"]  # the list, or its first text
        assert said in (
            f"Le champ « {name} » manque ou est invalide." for name in ("stop", "stop.0")
        )
        refused = alex.post("/v1/completions", json={"prompt": "Le ciel est", "stop": stop},
                            headers=csrf_header(alex))  # fmt: skip
        assert refused.status_code == 422
    for stop in (["fin", "\n\n"], "fin"):
        passed = alex.post("/v1/chat/completions", json={**ask, "stop": stop},
                           headers=csrf_header(alex))  # fmt: skip
        assert passed.status_code != 422, passed.text
