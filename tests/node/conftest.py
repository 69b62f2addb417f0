"""Both blob-store backends, for the interface's tests (tests/blobstores.py)."""

from tests.blobstores import seaweed, store

__all__ = ["seaweed", "store"]
