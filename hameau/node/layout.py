"""What lives where in a node's data dir (no database code: the short commands read it too)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Layout:
    root: Path
    url: str = ""  # the `database_url` setting: empty for the SQLite file below

    @classmethod
    def of(cls, settings: Any) -> Layout:
        """The layout of the node these settings open (its data dir and its database)."""
        return cls(settings.data_dir, getattr(settings, "database_url", ""))

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
        return self.url or f"sqlite:///{self.database}"

    @property
    def on_sqlite(self) -> bool:
        """The database is a SQLite file (the default); else a PostgreSQL server's."""
        return self.database_url.startswith("sqlite:")


def exists(layout: Layout) -> bool:
    """A node was made here (on PostgreSQL, whether its database was is seen on opening)."""
    return layout.key_file.exists() and (not layout.on_sqlite or layout.database.exists())
