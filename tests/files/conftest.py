"""A node on either blob-store backend, for the integrity tests (tests/blobstores.py; the run's
one SeaweedFS cluster, `seaweed`, is in tests/conftest.py)."""

from tests.blobstores import any_store_node

__all__ = ["any_store_node"]
