"""The escrow as contracts on an EVM chain (Vyper), behind hameau.ledger.escrow's interface.

Imported only when the setting `ledger_escrow` is "evm": nothing here loads otherwise.
"""
