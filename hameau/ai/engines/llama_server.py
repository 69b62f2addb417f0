"""The model run by llama.cpp's own server, `llama-server`, as a child process of the node.

It is started when a model is first needed, with `ai_parallel` slots (requests answered at
once, batched together by llama.cpp), and stopped when the model is unloaded. It listens on
a Unix socket in a private directory (mode 0700) — no port, so nothing else on the machine
can reach it — and it dies with the node (Linux's parent-death signal), even after kill -9.
Embeddings need the server in embedding mode: asking for them restarts it so.

The node still authenticates, retrieves, queues and logs; the server only computes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hameau.ai.engines import (
    LLAMA_SERVER,
    Job,
    Key,
    Piece,
    Result,
    crashed,
    damaged,
    not_installed,
    unavailable,
)
from hameau.errors import BadRequest, Phrase
from hameau.node.datadir import Node

if TYPE_CHECKING:
    import httpx  # imported when the server starts: an idle node does not load it

log = logging.getLogger("hameau.ai")
START_SECONDS = 120  # a model larger than the machine's memory takes long to fail
STOP_SECONDS = 10
FINISH = {"eos": "stop", "word": "stop", "limit": "length"}
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child, between fork and exec
    """SIGKILL, not SIGTERM: an orphan has nothing to save, and llama-server's graceful
    shutdown was seen to hang now and then with nobody left to wait for it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def cpu_seconds(pid: int) -> float:
    """The CPU time a process has used (user + system), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LlamaServer:
    label = "llama-server"
    local = True

    def __init__(self, node: Node, binary: Path | None) -> None:
        settings = node.settings
        self.binary = binary
        self.slots = settings.ai_parallel
        self.threads = settings.ai_threads or os.cpu_count() or 1
        self.context = settings.ai_context
        self.loaded: Key | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._folder: Path | None = None
        self._client: httpx.AsyncClient | None = None
        self._answering = 0  # requests in the server now, to share its CPU time among them

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.returncode is None else None

    def _arguments(self, key: Key, path: Path, socket: Path) -> list[str]:
        name, embedding = key
        common = ["-m", str(path), "--host", str(socket), "-t", str(self.threads),
                  "--no-webui", "--log-verbosity", "2", "--alias", name]  # fmt: skip
        if embedding:  # the whole text in one batch, pooled into one vector
            size = str(self.context)
            return [*common, "--embeddings", "--pooling", "mean", "-c", size, "-b", size,
                    "-ub", size, "--parallel", "1"]  # fmt: skip
        return [*common, "-c", str(self.context * self.slots), "--parallel", str(self.slots)]

    async def load(self, key: Key, path: Path | None) -> None:
        import httpx

        if self.binary is None:
            raise unavailable(not_installed(LLAMA_SERVER))
        assert path is not None, "a local engine is given its model's file"
        await self.unload()
        self._folder = Path(tempfile.mkdtemp(prefix="hameau-ai-"))  # 0700: only this user
        socket = self._folder / "llama.sock"
        errors = (self._folder / "server.log").open("wb")
        try:
            self._process = await asyncio.create_subprocess_exec(
                str(self.binary), *self._arguments(key, path, socket),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=errors, preexec_fn=_die_with_parent,
            )  # fmt: skip
        except OSError as error:
            await self.unload()
            raise unavailable(
                Phrase("llama-server could not be started (%(error)s)", error=error.strerror)
            ) from None
        finally:
            errors.close()
        self._client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(socket)),
            base_url="http://llama-server",
            timeout=httpx.Timeout(600, connect=5),
        )
        if not await self._ready(socket):
            said, code = self._said(), self._process.returncode
            log.warning("llama-server could not load %s (exit %s): %s", key[0], code, said)
            await self.unload()
            if code is not None and code < 0:  # a signal: the binary failed, not the file
                raise unavailable(crashed(-code, key[0]))
            raise unavailable(damaged(key[0]))
        self.loaded = key

    async def _ready(self, socket: Path) -> bool:
        """Wait for the server to say it is ready (checked every 50 ms while it starts only)."""
        import httpx

        assert self._process is not None and self._client is not None
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and self._process.returncode is None:
            if socket.exists():
                with contextlib.suppress(httpx.HTTPError):
                    if (await self._client.get("/health")).status_code == 200:
                        return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._process.wait(), 0.05)
        return False

    def _said(self) -> str:
        """The last lines the server wrote (its errors), for the node's log."""
        try:
            text = (self._folder / "server.log").read_text(errors="replace")  # type: ignore[operator]
        except OSError:
            return ""
        return " / ".join(text.strip().splitlines()[-3:])

    async def unload(self) -> None:
        self.loaded = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), STOP_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def _lost(self, error: Exception) -> Exception:
        """The server failed mid-request: the next request starts a new one."""
        log.warning("llama-server failed: %s %s", type(error).__name__, self._said())
        self.loaded = None
        return unavailable(Phrase("the model's server stopped unexpectedly; ask again"))

    @contextlib.asynccontextmanager
    async def _accounted(self, result: Result) -> AsyncIterator[None]:
        """Time the request, and give it its share of the server's CPU time meanwhile."""
        pid = self.pid
        started, cpu = time.perf_counter(), cpu_seconds(pid) if pid else 0.0
        self._answering += 1
        at_most = self._answering
        try:
            yield
        finally:
            at_most = max(at_most, self._answering)
            self._answering -= 1
            result.seconds = time.perf_counter() - started
            if pid:
                result.cpu_seconds = (cpu_seconds(pid) - cpu) / at_most

    async def generate(self, job: Job) -> AsyncIterator[Piece | Result]:
        import httpx

        assert self._client is not None
        # repeat_penalty: llama-cpp-python's default, so that both engines sample alike
        body = {"prompt": job.prompt, "n_predict": job.max_tokens, "temperature": job.temperature,
                "stop": job.stop, "stream": True, "cache_prompt": True,
                "repeat_penalty": 1.1}  # fmt: skip
        result = Result(finish_reason="cancelled")
        started = time.perf_counter()
        async with self._accounted(result):
            try:
                async with self._client.stream("POST", "/completion", json=body) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise self._lost(RuntimeError(response.text[:200]))
                    async for line in response.aiter_lines():
                        if not line.startswith("data: "):
                            continue
                        chunk: dict[str, Any] = json.loads(line[6:])
                        text = chunk.get("content") or ""
                        if text:
                            if not result.text:
                                result.first_token_seconds = time.perf_counter() - started
                            result.text += text
                            yield Piece(text)
                        if chunk.get("stop"):
                            result.prompt_tokens = int(chunk.get("tokens_evaluated") or 0)
                            result.completion_tokens = int(chunk.get("tokens_predicted") or 0)
                            result.finish_reason = FINISH.get(str(chunk.get("stop_type")), "stop")
                            break
            except httpx.HTTPError as error:
                raise self._lost(error) from None
        yield result

    async def embed(self, texts: list[str]) -> tuple[list[list[float]], Result]:
        import httpx

        assert self._client is not None
        result = Result()
        async with self._accounted(result):
            try:
                response = await self._client.post("/v1/embeddings", json={"input": texts})
            except httpx.HTTPError as error:
                raise self._lost(error) from None
        if response.status_code == 400:  # longer than the model takes at once
            raise BadRequest("A text is too long for the model to embed; give shorter texts.")
        if response.status_code >= 400:
            raise self._lost(RuntimeError(response.text[:200]))
        data = response.json()
        vectors = [[float(v) for v in item["embedding"]] for item in data["data"]]
        result.prompt_tokens = int((data.get("usage") or {}).get("prompt_tokens", 0))
        return vectors, result
