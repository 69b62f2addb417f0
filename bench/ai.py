"""The node's AI beside the engines it runs, called directly: same model, prompt, thread count
and token budget, in one run. For each runtime of the node — llama.cpp's `llama-server` as
its child process, and llama-cpp-python in its process — time to first token and tokens per
second, streamed through its OpenAI-compatible API with the official `openai` client, then
tokens per second over 4 requests at once; resident memory before any question, with the
model loaded, and after it was unloaded for idleness. Beside them: the same `llama-server`
binary run by hand (4 slots, its own HTTP API), and llama-cpp-python called in this process.
Prints one JSON line.

    .venv/bin/python bench/ai.py [--runs 5] [--tokens 64] [--threads 2] [--llama-server PATH]

The llama-server used is the one the node would find (`make llama-server` builds it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import process, read_process

PROMPT = "Write three sentences about the garden in spring."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--llama-server", type=Path, default=None)
    parser.add_argument("--concurrent", type=int, default=4)
    options = parser.parse_args()
    from hameau.ai import build
    from hameau.ai.runtime import gemma_prompt

    options.llama_server = options.llama_server or build.find_binary()
    if options.llama_server is None:
        sys.exit("llama-server is missing: run `make llama-server` (or give --llama-server PATH)")
    from hameau.ai.engines import importable

    if not importable("llama_cpp"):  # an optional engine, compared here
        sys.exit("bench/ai.py compares with llama-cpp-python: pip install -e '.[llama-cpp]'")
    prompt = gemma_prompt([{"role": "user", "content": PROMPT}])
    result: dict[str, object] = {"bench": "ai", "model": "gemma-3-270m (Q4_K_M)",
                                 "threads": options.threads, "tokens": options.tokens,
                                 "runs": options.runs, "at_once": options.concurrent}  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        for runtime, short in (("llama-server", "server"), ("llama-cpp-python", "inprocess")):
            data = Path(folder) / short
            measured = measure_node(data, runtime, prompt, options)
            result.update({f"node_{short}_{name}": value for name, value in measured.items()})
        model_path = next((Path(folder) / "server" / "models").glob("*.gguf"))
        server = run_server(options, model_path, prompt)
        direct = run_direct(model_path, prompt, options)
    result.update(server)
    result["direct_first_token_ms"] = round(median(direct, 0) * 1000, 1)
    result["direct_tokens_per_s"] = round(median(direct, 1), 1)
    for short, peer in (("server", "llama_server"), ("inprocess", "direct")):
        node_first, peer_first = (
            result[f"node_{short}_first_token_ms"],
            result[f"{peer}_first_token_ms"],
        )
        node_rate, peer_rate = result[f"node_{short}_tokens_per_s"], result[f"{peer}_tokens_per_s"]
        result[f"{short}_first_token_overhead_pct"] = round((node_first / peer_first - 1) * 100, 1)  # type: ignore[operator]
        result[f"{short}_throughput_overhead_pct"] = round((1 - node_rate / peer_rate) * 100, 1)  # type: ignore[operator]
    result["server_at_once_overhead_pct"] = round(
        (
            1
            - result["node_server_at_once_tokens_per_s"]
            / result["llama_server_at_once_tokens_per_s"]
        )
        * 100,
        1,  # type: ignore[operator]
    )
    print(json.dumps(result))


def measure_node(
    data: Path, runtime: str, prompt: str, options: argparse.Namespace
) -> dict[str, float]:
    """The node with one runtime: one stream, then requests at once, and its memory (with
    llama-server, the node's and its child's)."""
    import openai

    idle = 5
    run = lambda *args: subprocess.run([sys.executable, "-m", "hameau", *args, "--data-dir", str(data)],  # noqa: E731
                                       check=True, capture_output=True, text=True, input="correct horse\n")  # fmt: skip
    run("init", "--name", "Bench")
    run("member", "add", "alex", "--password-stdin")
    key = run("token", "create", "alex", "--label", "bench").stdout.strip().splitlines()[-1]
    (data / "hameau.toml").write_text(
        f'[node]\nai_runtime = "{runtime}"\nai_server = "{options.llama_server}"\n'
        f"ai_threads = {options.threads}\nai_idle_seconds = {idle}\n"
        f"ai_max_tokens = {options.tokens}\nai_parallel = {options.concurrent}\n"
    )

    def memory(pid: int) -> float:
        total = read_process(pid).rss_kb
        loaded = data / "models" / ".loaded.json"
        child = json.loads(loaded.read_text()).get("server_pid") if loaded.exists() else None
        if child:
            total += read_process(child).rss_kb
        return total / 1024

    command = [sys.executable, "-m", "hameau", "serve", "--data-dir", str(data)]
    with process(command) as node:
        time.sleep(1)
        before = memory(node.pid)
        client = openai.OpenAI(base_url=node.url + "/v1", api_key=key, max_retries=0, timeout=300)
        client.completions.create(model="gemma-3-270m", prompt="Hello", max_tokens=2)  # loads
        runs = [stream_node(client, prompt, options.tokens) for _ in range(options.runs)]
        loaded = memory(node.pid)
        at_once = together(client, prompt, options.tokens, options.concurrent)
        time.sleep(idle + 3)
        after = memory(node.pid)
    return {
        "first_token_ms": round(median(runs, 0) * 1000, 1),
        "tokens_per_s": round(median(runs, 1), 1),
        "at_once_tokens_per_s": round(at_once, 1),
        "rss_before_mb": round(before, 1),
        "rss_loaded_mb": round(loaded, 1),
        "rss_after_unload_mb": round(after, 1),
    }


def together(client, prompt: str, tokens: int, count: int) -> float:  # type: ignore[no-untyped-def]
    """Tokens per second over all of ``count`` requests sent at once."""
    import concurrent.futures

    model = client.models.list().data[0].id  # asked once, outside the timed requests

    def one(_: int) -> int:
        answer = client.completions.create(
            model=model, prompt=prompt, max_tokens=tokens, temperature=0
        )
        return int(answer.usage.completion_tokens)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
        made = sum(pool.map(one, range(count)))
    return made / (time.perf_counter() - started)


def run_server(options: argparse.Namespace, model: Path, prompt: str) -> dict[str, float]:
    """llama.cpp's own server on the same model: one stream, then requests at once."""
    import openai
    from common import free_port

    port = free_port()
    slots = options.concurrent
    child = subprocess.Popen(
        [str(options.llama_server), "-m", str(model), "--port", str(port), "-t", str(options.threads),
         "-c", str(2048 * slots), "--parallel", str(slots), "--log-disable"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="-", max_retries=0)
        deadline = time.monotonic() + 60
        while True:  # up, and its model loaded (503 "Loading model" until then)
            try:
                model_id = client.models.list().data[0].id
                client.completions.create(model=model_id, prompt="Hello", max_tokens=2)
                break
            except (openai.APIConnectionError, openai.InternalServerError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        runs = [stream_node(client, prompt, options.tokens, model_id) for _ in range(options.runs)]
        rss = read_process(child.pid).rss_kb / 1024
        at_once = together(client, prompt, options.tokens, slots)
    finally:
        child.terminate()
        child.wait(timeout=20)
    return {
        "llama_server_first_token_ms": round(median(runs, 0) * 1000, 1),
        "llama_server_tokens_per_s": round(median(runs, 1), 1),
        "llama_server_at_once_tokens_per_s": round(at_once, 1),
        "llama_server_rss_mb": round(rss, 1),
    }


def median(runs: list[tuple[float, float]], index: int) -> float:
    return statistics.median(run[index] for run in runs)


def stream_node(
    client, prompt: str, tokens: int, model: str = "gemma-3-270m"
) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(seconds to the first token, tokens per second after it), through an OpenAI API."""
    started = time.perf_counter()
    first, count = 0.0, 0
    for chunk in client.completions.create(
        model=model, prompt=prompt, max_tokens=tokens, temperature=0, stream=True
    ):
        if chunk.choices and chunk.choices[0].text:
            count += 1
            if count == 1:
                first = time.perf_counter() - started
    return first, (count - 1) / (time.perf_counter() - started - first)


def run_direct(model: Path, prompt: str, options: argparse.Namespace) -> list[tuple[float, float]]:
    from llama_cpp import Llama

    llama = Llama(model_path=str(model), n_ctx=2048, n_threads=options.threads, verbose=False)
    llama.create_completion("Hello", max_tokens=2)
    runs = []
    for _ in range(options.runs):
        started = time.perf_counter()
        first, count = 0.0, 0
        for chunk in llama.create_completion(
            prompt, max_tokens=options.tokens, temperature=0, stream=True
        ):
            if chunk["choices"][0]["text"]:
                count += 1
                if count == 1:
                    first = time.perf_counter() - started
        runs.append((first, (count - 1) / (time.perf_counter() - started - first)))
    return runs


if __name__ == "__main__":
    main()
