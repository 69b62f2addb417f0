"""JSON from outside (a peer's request or answer, an archive, an invitation): parsed as
`json.loads` does, with one failure for everything that is not acceptable JSON.

JSON nested deeper than Python's recursion limit makes `json.loads` raise RecursionError,
which is not a ValueError: every `except ValueError` around a parse let it through as a 500
(tests/e2e/test_hamlet_hostile.py). Here it is a ValueError like any other bad JSON.
"""

from __future__ import annotations

import json
from typing import Any


def loads(data: str | bytes | bytearray) -> Any:
    """``data`` parsed; ValueError if it is not JSON, or nested past Python's stack."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested deeper than this server reads") from None
