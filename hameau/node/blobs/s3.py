"""The S3 backend: blobs as objects `<prefix>/blobs/<sha256>` in a bucket of an S3-compatible
store (SeaweedFS, Garage, MinIO, AWS), through obstore; chosen by `blob_store = "s3://…"`.

A write streams into a spool file on the node's disk (`<data>/blobs/tmp`), hashed as it goes;
`commit()` uploads it under its hash. An S3 PUT, and the completion of a multipart upload,
is atomic: an object appears under a digest name whole or not at all, so no temp key and
copy are needed. The store's replication (not this node) keeps copies on several machines.
Damaged content goes to `<prefix>/quarantine/<time>-<reason>-<digest>`; a purge sets content
aside under `<prefix>/aside/<digest>` until the database's transaction decides.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import S3Store

from hameau.errors import CONTENT_GAP, StoreUnavailable
from hameau.node.blobs.base import (
    CHUNK,
    VERIFY_FIRST,
    BlobDamaged,
    BlobError,
    BlobInfo,
    BlobStore,
    BlobWriter,
    is_digest,
)
from hameau.node.blobs.s3sign import abort_upload, multipart_uploads
from hameau.node.blobs.spool import SpoolWriter
from hameau.node.blobs.verified import HashedReading

_STAMP = "%Y%m%dT%H%M%SZ"
MARKER = ".hameau-store"
PART = 8 << 20  # content above this goes up in parts of this size, several at once
# Unfinished multipart uploads older than this are a killed write's: another process sharing
# the bucket may be uploading the younger ones right now.
UPLOAD_GRACE = timedelta(hours=1)
# A store that does not answer is said so within seconds (obstore's defaults retry for
# three minutes), so the household gets a 503 with a sentence, not a hung request.
RETRIES = {"max_retries": 3, "retry_timeout": timedelta(seconds=20)}
CONNECT_TIMEOUT = timedelta(seconds=5)


class S3Writer(SpoolWriter):
    """Streams content into a spool file, hashing it; `commit()` uploads it under its hash."""

    def __init__(self, store: S3BlobStore) -> None:
        super().__init__(store.spool)
        self.store = store

    def commit(self, expect: str | None = None, later: bool = False) -> str:
        """Upload under the content's hash (with ``later``, only hashed: `settle` uploads).
        Even when the store holds it already: that copy may be damaged, this one was hashed.
        A full spool disk raises InsufficientStorage (507), nothing kept."""
        digest = self._hashed(expect)
        try:
            self._file.close()
        except OSError as error:
            self._failed(error)
        self._file = None
        self.digest = digest
        if not later:
            try:
                self.upload()
            except BaseException:
                self.digest = None
                self.abort()
                raise
        return digest

    def upload(self) -> None:
        """The spool file to the bucket under its hash (atomic), then gone from the disk."""
        assert self.digest is not None
        self.store._upload(self._temp, self.digest, self.size)
        self._temp.unlink(missing_ok=True)


class S3Reader(HashedReading):
    """An object read from its start, hashed as it goes: the read that would return its last
    bytes checks the hash first and, on a mismatch, quarantines that copy and raises
    `BlobDamaged`. A seek elsewhere than the start (a ranged read) turns the check off."""

    def __init__(self, store: S3BlobStore, digest: str) -> None:
        self.store, self.digest = store, digest
        found = store.info(digest)
        if found is None:
            raise BlobDamaged(digest, "missing")
        self.size, self._copy = found.size, found.copy
        self._file = obstore.open_reader(
            store.objects, store.key(digest), buffer_size=CHUNK, size=self.size
        )
        self._hash: Any = hashlib.sha256()
        self._position = 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._moved(self._file.seek(offset, whence))

    def read(self, size: int = -1) -> bytes:
        try:
            with self.store.reaching():
                data = bytes(self._file.read(None if size < 0 else size))
        except (NotFoundError, FileNotFoundError):
            raise BlobDamaged(self.digest, "missing") from None
        return self._took(data, self._copy)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> S3Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` → ("bucket", "some/prefix")."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not url.startswith("s3://") or not bucket:
        raise ValueError("blob_store must be local or s3://bucket[/prefix]")
    return bucket, prefix.strip("/")


class S3BlobStore(BlobStore):
    """Blobs in a bucket of an S3-compatible object store; see the module."""

    def __init__(self, url: str, folder: Path, settings: Any) -> None:
        self.bucket, self.prefix = parse_url(url)
        self.endpoint = settings.s3_endpoint.rstrip("/")
        self.region = settings.s3_region
        self._keys = (settings.s3_access_key, settings.s3_secret_key)
        self.objects = S3Store(
            self.bucket,
            prefix=self.prefix or None,
            endpoint=self.endpoint or None,
            region=self.region,
            access_key_id=self._keys[0] or None,
            secret_access_key=self._keys[1] or None,
            client_options={
                "allow_http": self.endpoint.startswith("http://"),
                "connect_timeout": CONNECT_TIMEOUT,
            },
            retry_config=RETRIES,  # type: ignore[arg-type]
        )
        self.spool = folder / "tmp"
        self.spool.mkdir(parents=True, exist_ok=True)
        self.upload_grace = UPLOAD_GRACE
        self._uploaders: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:  # never the secret key
        return f"S3BlobStore({self.location!r})"

    def key(self, digest: str) -> str:
        if not is_digest(digest):
            raise BlobError(f"not a blob name: {digest!r}")
        return f"blobs/{digest}"

    @contextmanager
    def reaching(self) -> Iterator[None]:
        """The store's errors other than "not found" (refused, cut, 5xx after the retries):
        `StoreUnavailable` (503), noted in the node's outages."""
        try:
            yield
        except (NotFoundError, FileNotFoundError):
            raise
        except (BaseError, ConnectionError, TimeoutError) as error:
            if self.outages is not None:
                raise self.outages.note("content") from error
            raise StoreUnavailable(CONTENT_GAP) from error

    def _upload(self, path: Path, digest: str, size: int) -> None:
        with self.reaching():
            obstore.put(
                self.objects,
                self.key(digest),
                path,
                use_multipart=size > PART,
                chunk_size=PART,
                max_concurrency=4,
            )

    def writer(self, settled: bool = False) -> S3Writer:
        return S3Writer(self)

    def info(self, digest: str) -> BlobInfo | None:
        return self._head(self.key(digest))

    def _head(self, key: str) -> BlobInfo | None:
        try:
            with self.reaching():
                meta = obstore.head(self.objects, key)
        except (NotFoundError, FileNotFoundError):
            return None
        return BlobInfo(meta["size"], (meta["e_tag"], meta["last_modified"]))

    def read(self, digest: str) -> bytes:
        try:
            with self.reaching():
                return bytes(obstore.get(self.objects, self.key(digest)).bytes())
        except (NotFoundError, FileNotFoundError):
            raise BlobError(f"blob {digest} is missing from the store") from None

    def open_verified(self, digest: str) -> S3Reader:
        return S3Reader(self, digest)

    def verify(self, digest: str, between: Callable[[], None] | None = None) -> str | None:
        """None if the object is there and hashes to its name, else "missing" or "damaged"."""
        hashed = hashlib.sha256()
        try:
            with self.reaching():
                for chunk in obstore.get(self.objects, self.key(digest)).stream(CHUNK):
                    hashed.update(chunk)
                    if between is not None:
                        between()
        except (NotFoundError, FileNotFoundError):
            return "missing"
        return None if hashed.hexdigest() == digest else "damaged"

    def ensure_sound(self, digest: str, size: int) -> BlobInfo:
        """As the local store's: the size checked, small content hashed, damage quarantined."""
        found = self.info(digest)
        if found is None:
            raise BlobDamaged(digest, "missing")
        if found.size == size and size > VERIFY_FIRST:
            return found
        problem = self.verify(digest)
        if problem is not None:
            if problem == "damaged":
                self.quarantine(digest, "damaged", only=found.copy)
            raise BlobDamaged(digest, problem)
        return found

    def _list(self, prefix: str) -> Iterator[Any]:
        for batch in obstore.list(self.objects, prefix, chunk_size=1000):
            yield from batch

    def stored(self) -> list[str]:
        names = (meta["path"].rpartition("/")[2] for meta in self._list("blobs/"))
        return [name for name in names if is_digest(name)]

    def listing(self) -> Iterator[tuple[str, int]]:
        """Names and sizes in one listing (a thousand a request), not a HEAD per blob."""
        for meta in self._list("blobs/"):
            name = meta["path"].rpartition("/")[2]
            if is_digest(name):
                yield name, int(meta["size"])

    def settle(self, writers: list[BlobWriter]) -> None:
        """Upload writes committed with ``later``, a few at once: a PUT is durable (on the
        store's replicas) once answered, so there is no flush to share between them."""
        mine = [writer for writer in writers if isinstance(writer, S3Writer)]
        assert len(mine) == len(writers), "writers of another store"
        if len(mine) < 2:
            for writer in mine:
                writer.upload()
            return
        if self._uploaders is None:
            self._uploaders = ThreadPoolExecutor(4, thread_name_prefix="s3-upload")
        for _done in self._uploaders.map(S3Writer.upload, mine):  # the first failure raised
            pass

    def clear_temp(self) -> int:
        """Spool files of writes cut short, multipart uploads a killed process left (older
        than `upload_grace`), purges cut short put back; returns how many were dropped."""
        removed = 0
        for leftover in self.spool.glob("upload-*"):
            leftover.unlink(missing_ok=True)
            removed += 1
        cutoff = datetime.now(UTC) - self.upload_grace
        bucket_url = f"{self.endpoint}/{self.bucket}"
        where = f"{self.prefix}/blobs/" if self.prefix else "blobs/"
        for key, upload_id, started in multipart_uploads(
            bucket_url, where, self._keys, self.region
        ):
            if started <= cutoff:
                abort_upload(bucket_url, key, upload_id, self._keys, self.region)
                removed += 1
        self.put_back_cut_short()
        return removed

    def put_back_cut_short(self) -> int:
        asides = list(self._list("aside/"))
        for meta in asides:
            self.put_back(meta["path"].rpartition("/")[2])
        return len(asides)

    # ------------------------------------------------------------ purge, in two steps

    def set_aside(self, digest: str) -> int | None:
        found = self.info(digest)
        if found is None:
            return None
        try:
            obstore.copy(self.objects, self.key(digest), f"aside/{digest}")
        except (NotFoundError, FileNotFoundError):
            return None
        obstore.delete(self.objects, self.key(digest))
        return found.size

    def put_back(self, digest: str) -> None:
        aside = f"aside/{digest}"
        if not self.exists(digest):  # else written again meanwhile: that copy is as good
            try:
                obstore.copy(self.objects, aside, self.key(digest))
            except (NotFoundError, FileNotFoundError):
                return
        obstore.delete(self.objects, aside)

    def drop_aside(self, digest: str) -> None:
        obstore.delete(self.objects, f"aside/{digest}")

    # ------------------------------------------------------------ quarantine

    def quarantine(self, digest: str, reason: str, only: Any = None) -> str | None:
        """Copy the object to `quarantine/<time>-<reason>-<digest>`, then delete it; with
        ``only``, only if it is still that copy (its ETag and date). S3 has no conditional
        delete: a good copy uploaded in the instant between the check and the delete would
        be quarantined too, and the next upload or read of it repairs or reports it."""
        found = self.info(digest)
        if found is None or (only is not None and found.copy != only):
            return None
        stamp = datetime.now(UTC).strftime(_STAMP)
        target = f"quarantine/{stamp}-{reason}-{digest}"
        number = 0
        while self._head(target) is not None:
            number += 1
            target = f"quarantine/{stamp}-{reason}-{digest}.{number}"
        try:
            obstore.copy(self.objects, self.key(digest), target)
        except (NotFoundError, FileNotFoundError):
            return None
        obstore.delete(self.objects, self.key(digest))
        return f"{self._url}/{target}"

    def _quarantined(self) -> list[tuple[str, datetime, int]]:
        found = []
        for meta in self._list("quarantine/"):
            name = meta["path"].rpartition("/")[2]
            try:
                when = datetime.strptime(name.split("-", 1)[0], _STAMP).replace(tzinfo=UTC)
            except ValueError:  # put there by hand: its own date
                when = meta["last_modified"]
            found.append((name, when, meta["size"]))
        return sorted(found, key=lambda item: item[1])

    def quarantined(self) -> list[tuple[str, datetime]]:
        return [(name, when) for name, when, _size in self._quarantined()]

    def quarantine_size(self) -> int:
        return sum(size for _name, _when, size in self._quarantined())

    def purge_quarantine(self, older_than: timedelta | None = None) -> tuple[int, int]:
        cutoff = None if older_than is None else datetime.now(UTC) - older_than
        count = size = 0
        for name, when, held in self._quarantined():
            if cutoff is None or when < cutoff:
                obstore.delete(self.objects, f"quarantine/{name}")
                count, size = count + 1, size + held
        return count, size

    # ------------------------------------------------------------ where it is

    @property
    def _url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    @property
    def location(self) -> str:
        return f"{self._url} at {self.endpoint}" if self.endpoint else self._url

    @property
    def quarantine_location(self) -> str:
        return f"{self.location} (quarantine/)"

    def has_marker(self) -> bool:
        return self._head(MARKER) is not None

    def write_marker(self) -> None:
        obstore.put(self.objects, MARKER, b"This bucket prefix is a hameau content store.\n")
