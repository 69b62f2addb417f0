"""What runs a model, behind one small interface (Radicale's way: one file per backend).

- `llama_server`: llama.cpp's own server as a child process of the node (the default);
- `llama_cpp`: llama-cpp-python inside the node's process (optional: `hameau[llama-cpp]`);
- `openai_remote`: an OpenAI-compatible server of the household or a peer (`ai_backend_url`).

`load(node)` picks one from the settings. The queue, the model's lifetime and the history
are the runtime's (`hameau.ai.runtime`), which imports this package, never the reverse.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hameau.ai import build
from hameau.config import Settings
from hameau.errors import HameauError, Phrase

# An assumed figure, not a measurement: a small x86 CPU core drawing about 15 W when busy.
WATTS_PER_BUSY_CORE = 15.0
LLAMA_SERVER, LLAMA_CPP, REMOTE = "llama-server", "llama-cpp-python", "openai-remote"

Key = tuple[str, bool]  # (model name, for embeddings)


class Unavailable(HameauError):
    status = 503


def unavailable(why: Phrase) -> Unavailable:
    return Unavailable("The AI is unavailable because %(why)s.", why=why)


def damaged(name: str) -> Phrase:
    return Phrase(
        "the model %(name)s could not be loaded (its file is damaged or not a GGUF model)",
        name=name,
    )


def crashed(signal: int, name: str) -> Phrase:
    """llama-server died on a signal while loading: the binary, not the model, is at fault."""
    return Phrase(
        "llama-server stopped on signal %(signal)s while loading the model %(name)s; it may not"
        " suit this processor: build it again here with `hameau ai install-server`",
        signal=signal,
        name=name,
    )


def not_installed(label: str) -> Phrase:
    """Why an engine cannot run here, and what to run."""
    if label == LLAMA_SERVER:
        return Phrase(
            "llama-server is not installed: run `hameau ai install-server`, or set"
            ' ai_runtime = "llama-cpp-python"'
        )
    return Phrase(
        "llama-cpp-python is not installed: run `pip install 'hameau[llama-cpp]'`, or set"
        ' ai_runtime = "llama-server"'
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


@dataclass
class Job:
    """One completion to make. A local model reads `prompt` (a chat already in Gemma's turn
    format); a remote server reads `messages` for a chat (it applies its own template)."""

    prompt: str
    max_tokens: int
    temperature: float = 0.7
    stop: list[str] = field(default_factory=list)
    messages: list[dict[str, str]] | None = None  # None: a plain completion of `prompt`


class Engine(Protocol):
    """What runs a model: loads one, answers completions and embeddings, lets it go."""

    label: str  # as shown to members: "llama-server", "llama-cpp-python" or the remote's URL
    slots: int  # completions it answers at once
    local: bool  # runs on this node (its models are in the catalog, loaded and unloaded here)
    loaded: Key | None

    async def load(self, key: Key, path: Path | None) -> None: ...

    def generate(self, job: Job) -> AsyncIterator[Piece | Result]: ...

    async def embed(self, texts: list[str]) -> tuple[list[list[float]], Result]: ...

    async def unload(self) -> None: ...


def importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ValueError, ImportError):  # blocked (None in sys.modules, or by a finder)
        return False


def chosen(settings: Settings) -> tuple[str, Path | None]:
    """The engine the settings ask for, and llama-server's binary if that is the one (None
    when it is missing). `auto`: the household's server if one is set, else llama-server when
    found, else llama-cpp-python when installed, else llama-server (whose absence is said)."""
    if settings.ai_backend_url:
        return REMOTE, None
    binary = build.find_binary(settings.ai_server)
    if settings.ai_runtime == LLAMA_CPP or (
        settings.ai_runtime == "auto" and binary is None and importable("llama_cpp")
    ):
        return LLAMA_CPP, None
    return LLAMA_SERVER, binary


def installed(settings: Settings) -> bool:
    """Whether the engine chosen is here (llama-server found, llama_cpp importable)."""
    label, binary = chosen(settings)
    if label == LLAMA_SERVER:
        return binary is not None
    return label == REMOTE or importable("llama_cpp")
