"""Markdown notes kept as CRDT documents (pycrdt), so edits made apart merge without conflict."""
