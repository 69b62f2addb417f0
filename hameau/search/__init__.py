"""Full-text search (SQLite FTS5) over a member's notes and text files, kept up to date on
every write. The AI's retrieval reads the same index."""
