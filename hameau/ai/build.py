"""Building llama.cpp's own server (`llama-server`) for this machine, once: `hameau ai
install-server`. The source is the llama.cpp that llama-cpp-python ships in its source
package (the version installed, if the optional in-process engine is; else FALLBACK_VERSION),
downloaded by pip without compiling it; the binary is built statically, tuned to this CPU
but without Intel's AMX tile instructions, and kept in the user's cache, where the node finds
it. AMX is left out because a virtual machine's CPU may announce it while the hypervisor does
not let a program use it: such a build crashed on its first matrix (`ldtilecfg`, a general
protection fault) on a Xeon guest; a household's second-hand machine has no AMX anyway.
This is the one llama.cpp build of a fresh `make test`: the dev install does not include
llama-cpp-python.

It needs cmake and a C++ compiler (Debian: `apt-get install cmake g++`) and takes about ten
minutes on two cores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from hameau.errors import HameauError

# The llama.cpp of this llama-cpp-python release when that package is not installed.
FALLBACK_VERSION = "0.3.36"
BINARY = "llama-server"
# How this build differs from llama.cpp's native one; in the cache folder's name, so that a
# machine holding an older build (with AMX) builds again.
FLAVOUR = "no-amx"
NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"  # gcc: these win over -march=native


class BuildFailed(HameauError):
    status = 500


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hameau" / "llama.cpp"


def source_version() -> str:
    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return FALLBACK_VERSION


def built_path(version: str | None = None) -> Path:
    return cache_root() / f"{version or source_version()}-{FLAVOUR}" / BINARY


def find_binary(configured: str = "") -> Path | None:
    """The llama-server to run: the configured path, else one on PATH, else the one built
    here (for the installed llama-cpp-python's version first, else the newest)."""
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_file() and os.access(path, os.X_OK) else None
    on_path = shutil.which(BINARY)
    if on_path:
        return Path(on_path)
    wanted = built_path()
    if wanted.is_file():
        return wanted
    others = sorted(cache_root().glob(f"*-{FLAVOUR}/{BINARY}"), key=lambda p: p.stat().st_mtime)
    return others[-1] if others else None


def install(say: Callable[[str], None], jobs: int | None = None) -> Path:
    """Fetch the source, build `llama-server`, and put it in the cache; its path."""
    version = source_version()
    target = built_path(version)
    if target.is_file():
        return target
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if missing:
        raise BuildFailed(
            "Building llama-server needs %(tools)s; install them (Debian: apt-get install"
            " cmake g++) and run this again.",
            tools=" and ".join(missing),
        )
    jobs = jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="hameau-llama-") as scratch:
        work = Path(scratch)
        say(f"Fetching the source of llama-cpp-python {version} (llama.cpp inside) …")
        _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
              ":all:", "--dest", str(work), f"llama-cpp-python=={version}"], work)  # fmt: skip
        archives = list(work.glob("llama_cpp_python-*.tar.gz"))
        if not archives:
            raise BuildFailed("pip did not fetch the llama-cpp-python source package.")
        import tarfile  # only when building: 0.4 MB the serving node does not keep

        with tarfile.open(archives[0]) as archive:
            archive.extractall(work, filter="data")
        source = next(work.glob("llama_cpp_python-*/vendor/llama.cpp"))
        build = work / "build"
        say(f"Building llama-server with {jobs} jobs (about ten minutes on two cores) …")
        _run(["cmake", "-S", str(source), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
              "-DBUILD_SHARED_LIBS=OFF", "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF",
              "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TESTS=OFF", f"-DCMAKE_C_FLAGS={NO_AMX}",
              f"-DCMAKE_CXX_FLAGS={NO_AMX}"], work)  # fmt: skip
        _run(["cmake", "--build", str(build), "--target", BINARY, "-j", str(jobs)], work)
        made = build / "bin" / BINARY
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        shutil.copy2(made, partial)
        partial.rename(target)
    return target


def _run(command: list[str], cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise BuildFailed(
            "%(command)s failed: %(tail)s", command=command[0], tail=" / ".join(tail) or "no output"
        )
