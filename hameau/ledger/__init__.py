"""The hamlet's credit: a signed, hash-chained ledger of mutual credit and escrow contracts."""
