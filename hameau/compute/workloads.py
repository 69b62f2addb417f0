"""The workloads lent compute runs: plain C in hameau/compute/workloads/ (wasi-libc only),
built with Debian's clang for wasm32-wasi, or natively to compare, and cached by source hash
under ~/.cache/hameau/wasm/.

`python -m hameau.compute.workloads build [--native] [NAME ...]` builds them (`make wasm`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from hameau.errors import HameauError

SOURCES = Path(__file__).parent / "workloads"
# name: what it does, for `--help` and the docs
NAMES = {
    "pi": "a Monte Carlo estimate of pi: pi SEED POINTS, writes /out/pi.txt",
    "compress": "LZ77 compression: compress NAME [DEPTH] writes /out/NAME.lz; -d NAME.lz back",
    "thumbs": "thumbnails: thumbs SIZE shrinks /in/*.pgm and *.ppm into /out",
}
TARGETS = ("wasm", "native")
WASM_FLAGS = ["--target=wasm32-wasi", "-O2", "-s"]
NATIVE_FLAGS = ["-O2", "-s"]
PACKAGES = "clang lld wasi-libc libclang-rt-14-dev-wasm32"

log = logging.getLogger(__name__)


class WorkloadUnavailable(HameauError):
    status = 503


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hameau" / "wasm"


def _command(target: str) -> list[str]:
    if target not in TARGETS:
        raise ValueError(f"target is one of {TARGETS}, not {target!r}")
    compiler = shutil.which("clang") if target == "wasm" else shutil.which("cc")
    if compiler is None and target == "native":
        raise WorkloadUnavailable(
            "Building the workloads natively needs a C compiler; install the Debian package"
            " gcc and try again."
        )
    if compiler is None:
        raise WorkloadUnavailable(
            "Building the workloads needs clang and wasi-libc; install the Debian packages"
            " %(packages)s and try again.",
            packages=PACKAGES,
        )
    return [compiler, *(WASM_FLAGS if target == "wasm" else NATIVE_FLAGS)]


def compile_c(source: Path, target: str = "wasm") -> Path:
    """`source` (one C file, its headers beside it) built for `target`, from the cache when
    that exact source was built before."""
    command = _command(target)
    digest = hashlib.sha256(" ".join(command[1:]).encode())
    for part in sorted([source, *source.parent.glob("*.h")]):
        digest.update(part.name.encode() + b"\0" + part.read_bytes())
    built = cache_root() / f"{source.stem}-{digest.hexdigest()[:16]}.{target}"
    if built.exists():
        return built
    built.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=built.parent) as scratch:
        partial = Path(scratch) / built.name
        done = subprocess.run(
            [*command, str(source), "-o", str(partial)], capture_output=True, text=True
        )
        if done.returncode != 0:
            log.warning("building %s failed: %s", source.name, done.stderr[-2000:])
            raise WorkloadUnavailable(
                "Building %(name)s failed; install the Debian packages %(packages)s and try again.",
                name=source.name,
                packages=PACKAGES,
            )
        partial.replace(built)  # whole or absent, even with two builds at once
    return built


def build(name: str, target: str = "wasm") -> Path:
    """The workload `name` (one of NAMES) built for `target` ("wasm" or "native")."""
    if name not in NAMES:
        raise ValueError(f"no workload named {name!r}; there are {', '.join(NAMES)}")
    return compile_c(SOURCES / f"{name}.c", target)


def run_native(program: Path, args: list[str], inputs: Path, outputs: Path) -> int:
    """A native build run on host folders (the sandbox's /in and /out, by environment)."""
    outputs.mkdir(parents=True, exist_ok=True)
    folders = {"HAMEAU_IN": str(inputs), "HAMEAU_OUT": str(outputs), "PATH": os.defpath}
    done = subprocess.run([str(program), *args], env=folders, capture_output=True)
    return done.returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "build":
        print("usage: python -m hameau.compute.workloads build [--native] [NAME ...]")
        return 2
    names = [word for word in argv[1:] if not word.startswith("--")] or list(NAMES)
    target = "native" if "--native" in argv else "wasm"
    try:
        for name in names:
            print(build(name, target))
    except (WorkloadUnavailable, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
