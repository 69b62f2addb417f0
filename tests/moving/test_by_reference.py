"""Export and import by reference (moving home): the archive names stored contents by hash
instead of carrying them, and an import finds them in the blob store, where they arrived
verified; an archive by reference whose contents have not arrived is refused whole."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from hameau import export
from hameau.errors import BadRequest
from hameau.node.environment import ArchiveReader
from tests.helpers import add_member, make_node
from tests.test_environment import files_of, furnish


def test_an_archive_by_reference_carries_no_content_and_imports_where_it_arrived(
    tmp_path: Path,
) -> None:
    home, target = make_node(tmp_path / "home"), make_node(tmp_path / "target")
    try:
        furnish(home)
        add_member(target, "sam")
        out = tmp_path / "alex.zip"
        manifest = export.export_member(home, 1, out, by_reference=True)
        references = {e["sha256"] for e in manifest["entries"] if e.get("ref")}
        assert references and "files/lettre.txt" in {e["path"] for e in manifest["entries"]}
        with zipfile.ZipFile(out) as packed:
            assert not any(n.startswith(("files/", "blobs/")) for n in packed.namelist())
        with pytest.raises(BadRequest, match="damaged or incomplete"):
            ArchiveReader(out)  # a plain import: no store to find them in
        with pytest.raises(BadRequest, match="has not arrived"):
            ArchiveReader(out, target.blobs)
        for digest in references:  # what a move sends first, verified as it is stored
            target.blobs.put(home.blobs.read(digest))
        export.import_member(target, io.BytesIO(out.read_bytes()), by_reference=True)
        assert files_of(target, "alex") == files_of(home, "alex")
    finally:
        home.close()
        target.close()


def test_a_plain_export_still_carries_everything(tmp_path: Path) -> None:
    home = make_node(tmp_path / "home")
    try:
        furnish(home)
        manifest = export.export_member(home, 1, tmp_path / "alex.zip")
        assert not any(entry.get("ref") for entry in manifest["entries"])
        with ArchiveReader(tmp_path / "alex.zip") as archive:
            archive.verify()
            assert archive.read("files/lettre.txt") == b"v3 (3)"
    finally:
        home.close()
