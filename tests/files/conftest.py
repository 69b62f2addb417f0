"""A node on either blob-store backend, for the integrity tests (tests/blobstores.py)."""

from tests.blobstores import any_store_node, seaweed

__all__ = ["any_store_node", "seaweed"]
