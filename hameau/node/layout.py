"""What lives where in a node's data dir (no database code: the short commands read it too)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def key_file(self) -> Path:
        return self.root / "node.key"

    @property
    def secret_file(self) -> Path:
        return self.root / "secret.key"

    @property
    def database(self) -> Path:
        return self.root / "hameau.db"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.database}"


def exists(layout: Layout) -> bool:
    return layout.key_file.exists() and layout.database.exists()
