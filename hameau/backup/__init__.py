"""Backups at a neighbour's: a node's data directory and a consistent database snapshot, sent
with restic to a paired peer that offers space (or to a folder), encrypted with a key the
household keeps (issue 13)."""
