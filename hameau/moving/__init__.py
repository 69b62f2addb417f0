"""Moving home: a member's whole environment moves to another node of the hamlet, with their
consent and the receiving node's acceptance; the old node forwards and keeps a read-only copy
for the rollback window (issue 13)."""
