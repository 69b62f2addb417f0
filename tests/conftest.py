from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hameau.node.datadir import Node
from tests.helpers import make_node


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    opened = make_node(tmp_path / "node")
    yield opened
    opened.close()
