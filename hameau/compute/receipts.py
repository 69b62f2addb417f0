"""A provider's receipt: what it ran (module hash, input hash), what came out (output hash,
the sandbox's status), the fuel it used, for which job and run, by which provider, signed with
the provider node's Ed25519 key. The asker checks it against the key it pinned when pairing,
and that it is for the run it asked (a receipt of another run, replayed, is refused)."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from hameau.compute.errors import ReceiptRefused
from hameau.node import json_input

PREFIX = b"hameau-compute-receipt\n"  # a receipt's signature is never valid as anything else


@dataclass(frozen=True)
class Receipt:
    job: str
    run: str
    provider: str  # the provider's node id
    module_hash: str
    input_hash: str
    status: str  # the sandbox's outcome: "ok", "fuel", "trap" …
    output_hash: str  # "" unless status is "ok"
    fuel_used: int

    def text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


def input_hash(args: list[str], inputs: list[dict[str, Any]], seed: int) -> str:
    """What a run is given, as one hash: its arguments, its input files (name, size, sha256,
    sorted by name) and its seed."""
    files = sorted((str(i["name"]), int(i["size"]), str(i["digest"])) for i in inputs)
    given = {"args": list(args), "inputs": files, "seed": int(seed)}
    return hashlib.sha256(json.dumps(given, separators=(",", ":")).encode()).hexdigest()


def sign(receipt: Receipt, sign_with: Any) -> tuple[str, str]:
    """The receipt's text and its signature (base64) by `sign_with(bytes) -> bytes`."""
    text = receipt.text()
    return text, base64.b64encode(sign_with(PREFIX + text.encode())).decode()


def check(text: str, signature: str, public_key: Any, expected: dict[str, str]) -> Receipt:
    """The receipt `text` if `signature` is the pinned key's and it says what `expected`
    says (job, run, provider, module_hash, input_hash); ReceiptRefused otherwise."""
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(base64.b64decode(signature, validate=True), PREFIX + text.encode())
        found = Receipt(**json_input.loads(text))
    except (InvalidSignature, ValueError, TypeError):
        raise ReceiptRefused(
            "The receipt is not signed by the provider's pinned key; its result is not used."
        ) from None
    for name, value in expected.items():
        if getattr(found, name) != value:
            raise ReceiptRefused(
                "The receipt is for another run (its %(field)s differs); its result is not used.",
                field=name,
            )
    return found
