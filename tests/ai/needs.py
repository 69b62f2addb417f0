"""What the AI's tests need, said as "not run" (never as passed) when it is not here."""

from __future__ import annotations

import pytest

from hameau.ai.engines import importable

LLAMA_CPP_ABSENT = "not run: llama-cpp-python is not installed (pip install hameau[llama-cpp])"
# A sys.meta_path finder that makes an import fail as if the package was never installed,
# for a `python -c` child: the shared environment is not changed.
BLOCK_LLAMA_CPP = """
import sys
class _Absent:
    def find_spec(self, name, path=None, target=None):
        if name == "llama_cpp" or name.startswith("llama_cpp."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Absent())
"""


def llama_cpp_python() -> None:
    if not importable("llama_cpp"):
        pytest.skip(LLAMA_CPP_ABSENT)
