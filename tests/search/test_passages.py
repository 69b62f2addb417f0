"""The rules that cut a document to the sentences answering a question (pure functions)."""

from __future__ import annotations

from hameau.ai.retrieval import keywords
from hameau.search.passages import CLOSE, OPEN, best, plain, units


def mark(text: str, *words: str) -> str:
    """The text as FTS5's highlight() gives it, the words marked."""
    for word in words:
        text = text.replace(word, f"{OPEN}{word}{CLOSE}")
    return text


def test_a_question_in_plain_french_keeps_its_telling_words_stemmed() -> None:
    assert keywords("Combien de temps faut-il cuire la tarte ?") == "temp cui tart"
    assert keywords("Quel est le temps de cuisson ?") == "temp cui"  # cuisson, cuire: "cui"


def test_the_heading_counts_half() -> None:
    note = mark("Chaudière\nLe plombier : M. Ferrand.", "Chaudière", "plombier")
    assert [plain(line) for line in best(note, ["chaudier", "plombi"], most=1)] == [
        "Le plombier : M. Ferrand."
    ]


def test_a_line_worth_less_than_half_the_best_is_left_out() -> None:
    recipe = mark(
        "La tarte aux pommes\nÉplucher les pommes.\nCouper les pommes.\nCuire 35 minutes.",
        "tarte", "pommes", "Cuire",
    )  # fmt: skip
    found = [plain(line) for line in best(recipe, ["tart", "pomm", "cui"])]
    assert found == ["La tarte aux pommes", "Cuire 35 minutes."]


def test_a_line_ending_with_a_colon_brings_its_value() -> None:
    note = mark("Wifi\nCode du portail :\n4512\nAutre chose.", "portail")
    assert [plain(line) for line in best(note, ["portail"])] == ["Code du portail :", "4512"]


def test_a_long_paragraph_is_cut_to_its_sentences_marks_left_whole() -> None:
    filler = "Une phrase sans rapport avec la question posée ici. " * 8
    paragraph = mark(filler + "Le compteur est dans la cave. " + filler, "compteur")
    found = best(paragraph, ["compteur"])
    assert [plain(line) for line in found] == ["Le compteur est dans la cave."]
    for line in units(mark("x " * 400 + "compteur " + "y " * 400, "compteur")):
        assert line.count(OPEN) == line.count(CLOSE) and len(plain(line)) <= 302
