"""The blob store: file content addressed by its SHA-256, written atomically, stored once.

One small interface (`BlobStore`) and one module per backend beside it, chosen by the
`blob_store` setting (`load_store`): `local.py` keeps content on the node's disk; `s3.py` in a
bucket of an S3-compatible object store (obstore, imported only when chosen). Nothing outside
this package knows where or how a backend keeps its content.

A write streams into a `BlobWriter`, hashed as it goes; `commit()` makes it durable under its
hash, and only then does the caller record it in the database. Identical content is kept
once; writing it again replaces the stored copy, which may have been damaged.

Nothing stored is trusted on its way out: `open_verified` hashes as it reads and refuses the
last bytes of content that does not hash to its name; `ensure_sound` checks the size (and,
for small content, the hash) before a byte is sent. Damaged content and content nothing
refers to are moved to the quarantine, never deleted, until an admin purges it (or 30 days).
"""

from __future__ import annotations

from typing import Any

from hameau.node.blobs.base import (
    CHUNK,
    QUARANTINE_DAYS,
    VERIFY_FIRST,
    BlobDamaged,
    BlobError,
    BlobInfo,
    BlobReader,
    BlobStore,
    BlobWriter,
    hash_file,
    is_digest,
    load_store,
)


def __getattr__(name: str) -> Any:
    """`from hameau.node.blobs import LocalBlobStore` keeps working, without importing the
    backend with the interface."""
    if name in ("LocalBlobStore", "LocalWriter", "VerifiedReader", "sync_filesystem"):
        from hameau.node.blobs import local

        return getattr(local, name)
    raise AttributeError(name)


__all__ = [
    "CHUNK",
    "QUARANTINE_DAYS",
    "VERIFY_FIRST",
    "BlobDamaged",
    "BlobError",
    "BlobInfo",
    "BlobReader",
    "BlobStore",
    "BlobWriter",
    "LocalBlobStore",
    "hash_file",
    "is_digest",
    "load_store",
]
