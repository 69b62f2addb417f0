"""The household's AI server (`ai_backend_url`) failing, as a member's OpenAI client sees it:
one sentence naming the server and what went wrong (real local servers, no model needed)."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from hameau.accounts import members, tokens
from hameau.app import create_app
from hameau.node.db import transaction
from tests.e2e.served import free_port
from tests.helpers import add_member, make_node
from tests.node.test_peer import server


def models_answer(root: Path, backend: str) -> tuple[int, str]:
    node = make_node(root, ai_backend_url=backend)
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        key = tokens.create_token(session, members.find_member(session, "alex"), "ai")[1]
    with TestClient(create_app(node)) as client:
        answer = client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
    node.close()
    return answer.status_code, answer.json()["error"]["message"]


def test_an_ai_server_out_of_reach_or_not_speaking_json_is_said_so(tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/v1"
    said = "Le serveur d’IA du foyer, à %s, n’a pas répondu comme prévu : %s."
    assert models_answer(tmp_path / "a", nowhere) == (502, said % (nowhere, "ConnectError"))
    with server() as url:
        garbled, boom = url + "/garbled", url + "/boom"
        not_json = said % (garbled, "an answer that is not JSON")
        assert models_answer(tmp_path / "b", garbled) == (502, not_json)
        loading = said % (boom, "503 The model is loading; try again")
        assert models_answer(tmp_path / "c", boom) == (502, loading)
