"""Answering from the member's own documents: the question's words are looked up in the
search index (SQLite FTS5, BM25) among what the member may read — their notes and files and
the household's files, never another member's — and the best passages are put before the
question, small enough for a CPU model's context. The answer names its sources."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from hameau.search import index

# Words too common to find anything by (French and English).
_COMMON_WORDS = (
    "les des une est pas que qui dans pour par sur avec son ses aux mais comme plus tout "
    "fait elle ils nous vous leur cette ces quel quelle quels quelles quoi comment combien "
    "pourquoi quand the and for are was what which who how why when where with this that "
    "from have has had you your our their there about into can does did "
    "faut fais faire peut peux doit dois sont ont était etre être avoir quoi chez ceci cela "
    "est-ce should would could will much many long"
)
COMMON = frozenset(_COMMON_WORDS.split(" "))
WORD = re.compile(r"\w{3,}", re.UNICODE)
# French endings taken off so a word finds its family ("cuisson" and "cuire" both "cui",
# "pommes" "pomm"); the rest is left to the index's prefix match. Longest first.
_ENDINGS = (
    "issements issement issons issez issent ssons ssent ements ations ement ation sson "
    "ments ment ions ons ées ée és er ez ir re es e s x"
)
ENDINGS = tuple(_ENDINGS.split(" "))
SHORTEST_STEM = 3


def stem(word: str) -> str:
    """A light French stemmer: the word without its ending, kept at least three letters."""
    for ending in ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= SHORTEST_STEM:
            return word[: -len(ending)]
    return word


def keywords(question: str) -> str:
    """The question's telling words, stemmed, in order, once each (for prefix matching)."""
    words = [stem(word) for word in WORD.findall(question.lower()) if word not in COMMON]
    return " ".join(dict.fromkeys(words))


def sources_for(session: Session, member_id: int, question: str, limit: int = 4) -> list[index.Hit]:
    query = keywords(question)
    return index.passages(session, member_id, query, limit) if query else []


def prompt_with(question: str, hits: list[index.Hit]) -> str:
    """The question, preceded by the passages found (numbered, so the answer can cite them)."""
    if not hits:
        return question
    lines = ["Answer using these extracts of my documents:"]
    for number, hit in enumerate(hits, 1):
        lines.append(f"[{number}] {hit.title}: {hit.snippet}")
    lines.append("")
    lines.append(f"Question: {question}")
    return "\n".join(lines)


def cited(hits: list[index.Hit]) -> list[dict[str, object]]:
    return [
        {"number": number, "kind": hit.kind, "id": hit.ref, "title": hit.title}
        for number, hit in enumerate(hits, 1)
    ]
