"""The small types every environment adapter shares: the archive a member's environment
travels in, and what a part of it weighs.

An archive is a zip with `manifest.json`: every other entry's path, size and SHA-256.
`ArchiveWriter` builds it (hashing as it writes); `ArchiveReader` checks all of it — safe
names, sizes, hashes, nothing missing and nothing extra — before an adapter reads a byte, so
a damaged, truncated or hostile archive is refused before anything is written.

**By reference** (moving home): the writer made with ``by_reference`` records a content the
blob store holds (`add_stream` with its hash) in the manifest with ``"ref": true`` instead of
copying it into the zip; the reader given ``blobs`` finds such an entry in that store, where
it arrived (and was verified) before the archive, and refuses the archive if it is not there.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from hameau.errors import BadRequest
from hameau.node import json_input

if TYPE_CHECKING:
    from hameau.node.blobs import BlobStore

MANIFEST = "manifest.json"
CHUNK = 1 << 20
# Whatever its manifest says, a manifest larger than this is not one.
MANIFEST_LIMIT = 64 << 20


@dataclass(frozen=True)
class Usage:
    """What a member's data weighs in one part: stored bytes and database rows."""

    bytes: int = 0
    rows: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.bytes + other.bytes, self.rows + other.rows)


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def damaged(reason: str) -> BadRequest:
    return BadRequest(
        "This archive is damaged or incomplete (%(reason)s), so nothing was imported: "
        "export it again from the member's home server.",
        reason=reason,
    )


def safe_path(name: str) -> str:
    """The name if it stays inside the archive's tree, else refused (`../x`, `/x`, `C:`)."""
    path = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or path.is_absolute()
        or any(part in ("", ".", "..") for part in name.split("/"))
        or ":" in path.parts[0]
    ):
        raise damaged(f"an entry is named {name[:80]!r}")
    return name


def _most(info: zipfile.ZipInfo) -> int:
    """The most bytes an entry can unpack to: deflate turns a byte into at most 1032."""
    if info.compress_type == zipfile.ZIP_STORED:
        return info.compress_size
    if info.compress_type == zipfile.ZIP_DEFLATED:
        return info.compress_size * 1032 + 1024
    raise damaged(f"{info.filename} is packed in a way this hameau does not read")


class ArchiveWriter:
    """Writes entries into a zip and keeps the manifest of their sizes and hashes."""

    def __init__(self, archive: zipfile.ZipFile, by_reference: bool = False) -> None:
        self.zip = archive
        self.entries: list[dict[str, Any]] = []
        self._names: set[str] = set()
        self.by_reference = by_reference

    def _record(self, path: str, size: int, sha256: str, ref: bool = False) -> None:
        self.entries.append(
            {"path": path, "size": size, "sha256": sha256, **({"ref": True} if ref else {})}
        )

    def has(self, path: str) -> bool:
        return path in self._names

    def add(self, path: str, data: bytes, compress: bool = True) -> None:
        safe_path(path)
        self._names.add(path)
        method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        self.zip.writestr(path, data, method)
        self._record(path, len(data), hashlib.sha256(data).hexdigest())

    def _json(self, data: Any) -> str:
        """Indented for a person reading their archive; compact by reference (a move's,
        read by a node only: json's C encoder, about 4 times faster at 3,000 files)."""
        return json.dumps(data, ensure_ascii=False, indent=None if self.by_reference else 1)

    def add_json(self, path: str, data: Any) -> None:
        self.add(path, self._json(data).encode())

    def add_stream(self, path: str, source: Readable, sha256: str | None = None) -> str:
        """Copy a stream in, hashed on the way; with ``sha256``, a different hash raises
        ValueError (the entry written so far stays out of the manifest). By reference, a
        stored content (a reader with its ``size``) is only named, not copied."""
        safe_path(path)
        self._names.add(path)
        size = getattr(source, "size", None)
        if self.by_reference and sha256 is not None and isinstance(size, int):
            return self.add_reference(path, sha256, size)
        digest, size = hashlib.sha256(), 0
        info = zipfile.ZipInfo(path)
        info.compress_type = zipfile.ZIP_DEFLATED
        with self.zip.open(info, "w", force_zip64=True) as target:
            while chunk := source.read(CHUNK):
                target.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        found = digest.hexdigest()
        if sha256 is not None and found != sha256:
            raise ValueError(f"{path} hashes to {found}, not {sha256}")
        self._record(path, size, found)
        return found

    def add_reference(self, path: str, sha256: str, size: int) -> str:
        """By reference: a stored content of ``size`` bytes, named, not copied."""
        safe_path(path)
        self._names.add(path)
        self._record(path, size, sha256, ref=True)
        return sha256

    def finish(self, header: dict[str, Any]) -> dict[str, Any]:
        manifest = {**header, "entries": self.entries}
        self.zip.writestr(MANIFEST, self._json(manifest))
        return manifest


class ArchiveReader:
    """An archive checked whole when opened: every entry is named safely, listed in the
    manifest with the size the zip declares, and hashes to what the manifest says."""

    def __init__(self, path: Path | BinaryIO, blobs: BlobStore | None = None) -> None:
        self.blobs = blobs  # where entries "by reference" are (None: an archive has none)
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise damaged("it is not a readable zip file") from error
        try:
            self.manifest = self._manifest()
            self._entries = {entry["path"]: entry for entry in self.manifest["entries"]}
            self._check_listing()
        except Exception:
            self.zip.close()
            raise

    def _manifest(self) -> dict[str, Any]:
        try:
            info = self.zip.getinfo(MANIFEST)
        except KeyError:
            raise damaged("it has no manifest") from None
        if info.file_size > MANIFEST_LIMIT:
            raise damaged("its manifest is too large")
        try:
            manifest = json.loads(self.zip.read(MANIFEST))
            entries = manifest["entries"]
            for entry in entries:
                safe_path(entry["path"])
                if not isinstance(entry["size"], int) or entry["size"] < 0:
                    raise ValueError("size")
                if not isinstance(entry["sha256"], str) or len(entry["sha256"]) != 64:
                    raise ValueError("sha256")
        except BadRequest:
            raise
        except Exception as error:  # truncated, bad JSON, missing keys, bad CRC
            raise damaged("its manifest cannot be read") from error
        if not isinstance(manifest, dict) or not isinstance(manifest.get("format"), str):
            raise damaged("its manifest names no format")
        return manifest

    def _check_listing(self) -> None:
        names = [info.filename for info in self.zip.infolist()]
        for name in names:
            safe_path(name)
        if len(set(names)) != len(names):
            raise damaged("an entry is there twice")
        listed = {name for name, entry in self._entries.items() if not entry.get("ref")}
        self._check_references()
        present = set(names) - {MANIFEST}
        if missing := sorted(listed - present):
            raise damaged(f"{missing[0]} is missing")
        if extra := sorted(present - listed):
            raise damaged(f"{extra[0]} is not in its manifest")
        for name in listed:
            info = self.zip.getinfo(name)
            if info.file_size != self._entries[name]["size"]:
                raise damaged(f"the size of {name} is not the one its manifest gives")
            if info.file_size > _most(info):  # a zip bomb, or a header that lies
                raise damaged(f"{name} declares more bytes than it holds")

    def _check_references(self) -> None:
        """Every entry by reference is in the blob store, with the size the manifest gives."""
        for name, entry in self._entries.items():
            if not entry.get("ref"):
                continue
            if self.blobs is None:
                raise damaged(f"{name} is not in it")
            if self.blobs.size(entry["sha256"]) != entry["size"]:
                raise damaged(f"the content of {name} has not arrived")

    @property
    def total_size(self) -> int:
        """Bytes the entries of the zip hold once unpacked (as declared, checked by `verify`);
        entries by reference are stored already."""
        return sum(e["size"] for e in self._entries.values() if not e.get("ref"))

    def verify(self) -> None:
        """Read every entry once, hashing it; raise on the first that differs. (Content by
        reference was verified as it arrived in the blob store.)"""
        for name, entry in self._entries.items():
            if entry.get("ref"):
                continue
            digest, size = hashlib.sha256(), 0
            try:
                with self.zip.open(name) as source:
                    while chunk := source.read(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
            except Exception as error:  # bad CRC, bad deflate stream, cut short, unknown method
                raise damaged(f"{name} cannot be read") from error
            if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
                raise damaged(f"{name} is not what its manifest says")

    def has(self, path: str) -> bool:
        return path in self._entries

    def sha256(self, path: str) -> str:
        return str(self._entries[path]["sha256"])

    def size(self, path: str) -> int:
        return int(self._entries[path]["size"])

    def paths(self, prefix: str = "") -> list[str]:
        return sorted(path for path in self._entries if path.startswith(prefix))

    def _stored(self, path: str) -> str | None:
        """The hash of an entry by reference (then in `blobs`), None for one in the zip."""
        entry = self._entries[path]
        return str(entry["sha256"]) if entry.get("ref") else None

    def read(self, path: str) -> bytes:
        if path not in self._entries:
            raise damaged(f"{path} is missing")
        if (digest := self._stored(path)) is not None and self.blobs is not None:
            return self.blobs.read(digest)
        return self.zip.read(path)

    def read_json(self, path: str, default: Any = None) -> Any:
        if path not in self._entries:
            return default
        try:
            return json_input.loads(self.read(path))
        except ValueError as error:
            raise damaged(f"{path} is not valid JSON") from error

    def open(self, path: str) -> BinaryIO:
        if path not in self._entries:
            raise damaged(f"{path} is missing")
        if (digest := self._stored(path)) is not None and self.blobs is not None:
            return self.blobs.open_verified(digest)  # type: ignore[return-value]
        return self.zip.open(path)  # type: ignore[return-value]

    def by_hash(self) -> Iterator[tuple[str, str]]:
        """(sha256, path) of every entry, to find a content wherever the archive holds it."""
        for path, entry in self._entries.items():
            yield entry["sha256"], path

    def close(self) -> None:
        self.zip.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
