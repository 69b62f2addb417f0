"""Both blob-store backends, for the interface's tests (tests/blobstores.py; the run's one
SeaweedFS cluster, `seaweed`, is in tests/conftest.py)."""

from tests.blobstores import store

__all__ = ["store"]
