"""Cutting a document into the sentences that answer a question: the lines (or, in a long
paragraph, the sentences) where the question's words matched, as FTS5's `highlight()` marked
them. Pure functions, no I/O.

Rules: a line counts each question word it holds once, weighted by how rare the word is in
the document (a word on every line says little); the document's first line, its heading
(already named as the source), counts half; the best few, each worth at least half the best,
come back in the document's order, and a line ending with ":" brings the next one (its
value)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

OPEN, CLOSE = "\x02", "\x03"  # the marks highlight() puts around a matched word
MARKED = re.compile(f"{OPEN}(.*?){CLOSE}", re.S)
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
LONGEST = 300  # characters of one sentence shown; longer ones are cut around their first match


def fold(text: str) -> str:
    """Lower case without accents, as the index's tokenizer sees words."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def plain(text: str) -> str:
    return text.replace(OPEN, "").replace(CLOSE, "")


def _balanced(text: str) -> str:
    """Marks left whole after a cut: a lone closing mark dropped, an open one closed."""
    out, inside = [], False
    for char in text:
        if char == OPEN:
            if inside:
                continue
            inside = True
        elif char == CLOSE:
            if not inside:
                continue
            inside = False
        out.append(char)
    return "".join(out) + (CLOSE if inside else "")


def _shortened(sentence: str) -> str:
    if len(sentence) <= LONGEST:
        return sentence
    start = max(0, sentence.find(OPEN) - LONGEST // 3)
    start = sentence.rfind(" ", 0, start) + 1 if start else 0
    end = sentence.rfind(" ", start, start + LONGEST)
    cut = sentence[start : end if end > start else start + LONGEST]
    return _balanced(("…" if start else "") + cut + "…")


def units(body: str) -> list[str]:
    """The document's lines; a long paragraph split into its sentences."""
    found: list[str] = []
    for line in body.splitlines():
        line = line.strip()
        if not line:
            continue
        parts = SENTENCE_END.split(line) if len(plain(line)) > LONGEST else [line]
        found.extend(_shortened(_balanced(part)) for part in parts if part.strip())
    return found


def terms_in(unit: str, terms: list[str]) -> set[str]:
    """The question's words (prefixes, folded) that matched in a unit."""
    held = set()
    for word in MARKED.findall(unit):
        folded = fold(word)
        matching = [term for term in terms if folded.startswith(term)]
        if matching:
            held.add(max(matching, key=len))
    return held


def best(marked: str, terms: list[str], most: int = 3) -> list[str]:
    """The units of a highlighted document that answer best, in the document's order."""
    lines = units(marked)
    terms = [fold(term) for term in terms]
    held = [terms_in(line, terms) for line in lines]
    spread = Counter(term for found in held for term in found)

    def score(number: int) -> float:
        weight = sum(1 / spread[term] for term in held[number])
        return weight / 2 if number == 0 and len(lines) > 1 else weight

    ranked = sorted((n for n in range(len(lines)) if held[n]), key=lambda n: (-score(n), n))
    if not ranked:
        return []
    enough = score(ranked[0]) / 2
    chosen = {n for n in ranked[:most] if score(n) >= enough}
    chosen |= {n + 1 for n in chosen if n + 1 < len(lines) and plain(lines[n]).endswith(":")}
    return [lines[n] for n in sorted(chosen)]
