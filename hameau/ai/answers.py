"""What every engine and the runtime share: a piece of an answer as it streams, the whole
answer with its counts, the model's key, and the errors an engine reports. Here, not in the
runtime, so that the engines (`child`, `inprocess`) do not import the runtime that starts them."""

from __future__ import annotations

from dataclasses import dataclass

from hameau.errors import HameauError, Phrase

# An assumed figure, not a measurement: a small x86 CPU core drawing about 15 W when busy.
WATTS_PER_BUSY_CORE = 15.0


class Unavailable(HameauError):
    status = 503


def unavailable(why: Phrase) -> Unavailable:
    return Unavailable("The AI is unavailable because %(why)s.", why=why)


def damaged(name: str) -> Phrase:
    return Phrase(
        "the model %(name)s could not be loaded (its file is damaged or not a GGUF model)",
        name=name,
    )


@dataclass
class Piece:
    text: str


@dataclass
class Result:
    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    first_token_seconds: float = 0.0

    @property
    def energy_wh(self) -> float:
        """An estimate: CPU time used × an assumed power per busy core (see WATTS_PER_BUSY_CORE)."""
        return self.cpu_seconds * WATTS_PER_BUSY_CORE / 3600


Key = tuple[str, bool]  # (model name, for embeddings)
