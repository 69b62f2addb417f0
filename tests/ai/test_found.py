"""The AI page leads with what was found in the member's documents: the sentences that
answer, their matched words marked, with their source — found by the words of a question in
plain French ("cuisson" finds "Cuire"), with or without a model to write an answer."""

from __future__ import annotations

import html
import os
import re
import sys
from pathlib import Path

import pytest

from hameau.ai import build, catalog
from hameau.node.datadir import Node
from tests.ai.documents import QUESTIONS, put_documents
from tests.helpers import csrf_header, make_node, members_logged_in


def shown(page: str) -> str:
    """The page's text as read: marks and entities undone."""
    return html.unescape(re.sub(r"</?mark>", "", page))


def test_without_a_model_the_sentences_found_are_shown_with_their_source(
    any_node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a member expects from a home server without its AI: the search of their
    documents still answers; the page says why no text was written. On either database."""
    monkeypatch.setitem(sys.modules, catalog.PACKAGE, None)  # no model installed
    made = any_node
    try:
        (alex,) = members_logged_in(made, "alex")
        put_documents(made, "alex")
        for question, (sentence, source) in QUESTIONS.items():
            for htmx in (True, False):
                headers = {"HX-Request": "true"} if htmx else {}
                page = alex.post("/ai", data={"question": question, "retrieval": "1"},
                                 headers={**headers, **csrf_header(alex)})  # fmt: skip
                passages = re.findall(r'<blockquote class="passage">(.*?)</blockquote>', page.text)
                assert sentence in [shown(passage) for passage in passages], (question, passages)
                assert "<mark>" in "".join(passages)  # the words that matched, marked
                said = shown(page.text)
                assert f"] {source}" in said
                found_at = said.index("Trouvé dans vos documents")
                assert found_at < said.rindex("L’IA est indisponible parce que")  # in the card
    finally:
        made.close()


def test_a_small_models_text_comes_below_what_was_found_a_larger_ones_above(
    tmp_path: Path,
) -> None:
    if build.find_binary() is None:
        pytest.skip("not run: llama-server is not built here (make llama-server)")
    made = make_node(tmp_path / "node")
    folder = catalog.folder(made)
    folder.mkdir()
    with (folder / "grand-modele.gguf").open("wb") as large:  # sparse: only its size counts
        large.truncate(catalog.SMALL_BYTES + 1)
    try:
        (alex,) = members_logged_in(made, "alex")
        put_documents(made, "alex")
        question = next(iter(QUESTIONS))
        order = {}
        for model in ("gemma-3-270m", "grand-modele"):
            if model == "gemma-3-270m" and not catalog.available(made)[0].packaged:
                continue
            fragment = alex.post(
                "/ai", data={"question": question, "retrieval": "1", "model": model},
                headers={"HX-Request": "true", **csrf_header(alex)},
            )  # fmt: skip
            said = shown(fragment.text)
            assert "sse-connect" in fragment.text, said
            order[model] = said.index("Trouvé dans vos documents")
            if model == "grand-modele":
                assert said.index("Réponse de grand-modele") < order[model]
            else:
                label = "Écrit par un petit modèle (gemma-3-270m) : il peut se tromper"
                assert said.index(label) > order[model]
    finally:
        made.close()
        os.truncate(folder / "grand-modele.gguf", 0)
