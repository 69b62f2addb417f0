"""The contracts' bytecode and ABI, compiled by Vyper once and kept as JSON beside the sources,
so a node runs them without the compiler. `python -m hameau.ledger.evm.build` recompiles."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

CONTRACTS = Path(__file__).parent / "contracts"
NAMES = ("euro", "escrow")


def source_digest(name: str) -> str:
    return hashlib.sha256((CONTRACTS / f"{name}.vy").read_bytes()).hexdigest()


def compile_contract(name: str) -> dict[str, Any]:
    """Compile one contract with Vyper (imported here only: nodes read the JSON instead)."""
    import vyper

    source = CONTRACTS / f"{name}.vy"
    out = vyper.compile_code(
        source.read_text(), contract_path=source.name, output_formats=["abi", "bytecode"]
    )
    return {
        "vyper": vyper.__version__,
        "source_sha256": source_digest(name),
        "abi": out["abi"],
        "bytecode": out["bytecode"],
    }


def load(name: str) -> dict[str, Any]:
    """The compiled contract; compiled (and the JSON rewritten) if its source changed."""
    cached = CONTRACTS / f"{name}.json"
    if cached.exists():
        compiled: dict[str, Any] = json.loads(cached.read_text())
        if compiled["source_sha256"] == source_digest(name):
            return compiled
    compiled = compile_contract(name)
    cached.write_text(json.dumps(compiled, indent=1, sort_keys=True) + "\n")
    return compiled


if __name__ == "__main__":
    for contract in NAMES:
        (CONTRACTS / f"{contract}.json").unlink(missing_ok=True)
        print(contract, len(load(contract)["bytecode"]) // 2 - 1, "bytes of init code")
