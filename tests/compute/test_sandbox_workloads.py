"""The workloads lent compute runs (docs/compute.md, "The sandbox"): each gives in the sandbox
exactly what its native build gives, the same on every run, and its fuel bill too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hameau.compute import workloads
from hameau.compute.sandbox import Limits, run, tree_hash
from hameau.compute.workloads import WorkloadUnavailable, run_native
from tests.compute.guests import built, job_folders

LIMITS = Limits(fuel=10**11)


def _text(lines: int) -> bytes:
    return b"".join(b"line %d: the household server lends its idle time %d\n" % (i, i % 13)
                    for i in range(lines))  # fmt: skip


def _grey(width: int, height: int) -> bytes:
    pixels = bytes((x * 3 + y * 5) % 256 for y in range(height) for x in range(width))
    return b"P5\n# a comment\n%d %d\n255\n" % (width, height) + pixels


def _colour(width: int, height: int) -> bytes:
    pixels = bytes((x * y + c * 85) % 256 for y in range(height) for x in range(width)
                   for c in range(3))  # fmt: skip
    return b"P6\n%d %d\n255\n" % (width, height) + pixels


CASES = {
    "pi": ({}, ["42", "200000"]),
    "compress": ({"text.txt": _text(3000)}, ["text.txt"]),
    "thumbs": ({"grey.pgm": _grey(300, 200), "colour.ppm": _colour(97, 131)}, ["64"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_workload_gives_in_the_sandbox_what_its_native_build_gives(
    tmp_path: Path, name: str
) -> None:
    files, args = CASES[name]
    module = built(name).read_bytes()
    native = built(name, "native")
    inputs, outputs = job_folders(tmp_path, files)

    first = run(module, args, inputs, outputs, LIMITS)
    again = run(module, args, inputs, tmp_path / "again", LIMITS)
    assert run_native(native, args, inputs, tmp_path / "native") == 0

    assert first.status == "ok", first.reason
    assert first.output_hash == tree_hash(outputs) == tree_hash(tmp_path / "native")
    assert (again.output_hash, again.fuel_used) == (first.output_hash, first.fuel_used)
    assert 0 < first.fuel_used < LIMITS.fuel


def test_pi_is_close_and_its_seed_changes_the_points(tmp_path: Path) -> None:
    module = built("pi").read_bytes()
    inputs, _ = job_folders(tmp_path)
    texts = []
    for seed in ("1", "2"):
        outcome = run(module, [seed, "400000"], inputs, tmp_path / seed, LIMITS)
        assert outcome.status == "ok", outcome.reason
        texts.append((tmp_path / seed / "pi.txt").read_text())
    assert texts[0] != texts[1]
    for text in texts:
        assert abs(float(text.split()[0]) - 3.14159265) < 0.02
        assert "of 400000 points inside" in text


def test_a_compressed_file_comes_back_whole_and_a_damaged_one_is_refused(
    tmp_path: Path,
) -> None:
    module = built("compress").read_bytes()
    original = _text(5000) + os.urandom(3000) + b"\0" * 70_000
    inputs, outputs = job_folders(tmp_path, {"data.bin": original, "empty": b""})
    assert run(module, ["data.bin"], inputs, outputs, LIMITS).status == "ok"
    assert run(module, ["empty", "4"], inputs, outputs, LIMITS).status == "ok"
    packed = (outputs / "data.bin.lz").read_bytes()
    assert len(packed) < len(original) // 2

    back, _ = job_folders(tmp_path / "back", {"data.bin.lz": packed,
                                              "empty.lz": (outputs / "empty.lz").read_bytes(),
                                              "damaged.lz": packed[:-40] + b"\xff" * 40})  # fmt: skip
    for name in ("data.bin.lz", "empty.lz"):
        outcome = run(module, ["-d", name], back, tmp_path / "plain", LIMITS)
        assert outcome.status == "ok", outcome.reason
    assert (tmp_path / "plain" / "data.bin").read_bytes() == original
    assert (tmp_path / "plain" / "empty").read_bytes() == b""
    damaged = run(module, ["-d", "damaged.lz"], back, tmp_path / "damaged", LIMITS)
    assert (damaged.status, damaged.exit_code) == ("exit", 1)
    assert "damaged.lz is damaged" in damaged.reason


def test_thumbnails_fit_the_size_and_keep_a_flat_colour(tmp_path: Path) -> None:
    module = built("thumbs").read_bytes()
    flat = b"P5\n40 400\n255\n" + bytes([77]) * 16000
    inputs, outputs = job_folders(tmp_path, {"flat.pgm": flat, "notes.txt": b"not an image"})
    assert run(module, ["50"], inputs, outputs, LIMITS).status == "ok"
    assert sorted(path.name for path in outputs.iterdir()) == ["flat.pgm"]
    assert (outputs / "flat.pgm").read_bytes() == b"P5\n5 50\n255\n" + bytes([77]) * 250
    broken, _ = job_folders(tmp_path / "broken", {"broken.pgm": b"P5\n10 10\n255\nshort"})
    outcome = run(module, ["50"], broken, tmp_path / "broken-out", LIMITS)
    assert (outcome.status, outcome.exit_code) == ("exit", 1)
    assert "broken.pgm: not a binary PGM/PPM image" in outcome.reason


def test_builds_are_cached_where_xdg_cache_home_says(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    try:
        first = workloads.build("pi")
    except WorkloadUnavailable as error:
        pytest.skip(f"not run: {error}")
    assert first.parent == tmp_path / "cache" / "hameau" / "wasm"
    made = first.stat().st_mtime_ns
    assert workloads.build("pi") == first
    assert first.stat().st_mtime_ns == made
    assert first.read_bytes().startswith(b"\0asm")


def test_without_clang_the_build_names_the_packages_to_install(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(WorkloadUnavailable, match="clang lld wasi-libc libclang-rt-14-dev-wasm32"):
        workloads.build("thumbs")
    done = subprocess.run(
        [sys.executable, "-m", "hameau.compute.workloads", "build"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(tmp_path / "empty")},
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "install the Debian packages clang lld wasi-libc" in done.stderr
