"""Guest programs for the sandbox's tests: C built with the workloads' toolchain (a test whose
toolchain is missing is skipped as not run) and the folders a job runs with."""

from __future__ import annotations

from pathlib import Path

import pytest

from hameau.compute import workloads
from hameau.compute.workloads import WorkloadUnavailable


def built(name: str, target: str = "wasm") -> Path:
    try:
        return workloads.build(name, target)
    except WorkloadUnavailable as error:
        pytest.skip(f"not run: {error}")


def compiled(tmp_path: Path, name: str, source: str, target: str = "wasm") -> bytes:
    """A C program written for one test, built (cached by its source) for `target`."""
    folder = tmp_path / "guest-src"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.c").write_text(source)
    try:
        return workloads.compile_c(folder / f"{name}.c", target).read_bytes()
    except WorkloadUnavailable as error:
        pytest.skip(f"not run: {error}")


def job_folders(tmp_path: Path, files: dict[str, bytes] | None = None) -> tuple[Path, Path]:
    """An input folder holding `files` and an output folder not made yet."""
    inputs, outputs = tmp_path / "job" / "in", tmp_path / "job" / "out"
    inputs.mkdir(parents=True)
    for name, content in (files or {}).items():
        (inputs / name).write_bytes(content)
    return inputs, outputs
