"""The node itself: its data dir, identity, database and blob store."""
