"""The columns the files' plain SQL reads (`hameau travel status`, without SQLAlchemy) are the
models' and the journal's, each read back as its type stores it."""

from __future__ import annotations

from sqlalchemy import JSON

from hameau.files import tables
from hameau.models import metadata
from hameau.node.engine import UTCDateTime

READ_AS = {"json": JSON, "when": UTCDateTime}


def test_every_column_read_is_the_models_column() -> None:
    for name, columns in tables.COLUMNS.items():
        declared = metadata().tables[name]
        for column, reader in columns.items():
            assert column in declared.columns, f"{name}.{column}"
            kind = type(declared.columns[column].type)
            assert (
                (kind is READ_AS[reader]) if reader in READ_AS else kind not in (*READ_AS.values(),)
            ), f"{name}.{column} read as {reader}"
