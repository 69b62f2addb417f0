"""Full-text search over a member's notes and text files, kept up to date on every write:
FTS5 on SQLite, PostgreSQL's full-text search on PostgreSQL, behind one interface (index.py).
The AI's retrieval reads the same index."""
