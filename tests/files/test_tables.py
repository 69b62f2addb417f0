"""The files' light Core tables (read by `hameau travel status` without the ORM) match the
models and the journal, column by column."""

from __future__ import annotations

from hameau.files import tables
from hameau.models import metadata


def test_every_light_column_is_the_models_column() -> None:
    for light in (tables.sync_entries, tables.file_entries, tables.file_versions):
        declared = metadata().tables[light.name]
        for column in light.columns:
            assert column.name in declared.columns, f"{light.name}.{column.name}"
            assert type(column.type) is type(declared.columns[column.name].type), column
