"""The embedded ledger: appends per second and the time to verify N entries (100,000 by
default), beside what the same count of bare Ed25519 signatures and SHA-256 hashes costs
with `cryptography` in the same run (the floor: an append signs twice and hashes once, a
verification checks two signatures and hashes once).

Appends are measured two ways: one transaction per append (what a page or a command does,
each durable on its own) over `--single` appends, and many appends per transaction (how the
N entries are built). Verify is `hameau ledger verify` run as a user runs it (a new process).

In the same run, unless `--local-only`: the replication lag across three homes served as
processes (`bench/ledger_replicas.py --payments P --notaries 3`: a payment at B final with two
of three notaries' signatures, then present at C) and one escrow on the EVM adapter on
eth-tester (`bench/ledger_evm.py --escrows E`, beside the embedded ledger's); each runs as a
process of its own and its JSON line is kept whole under "replication" and "evm".

Prints one JSON line.
    .venv/bin/python bench/ledger.py [--entries 100000] [--single 2000] [--payments 5]
                                     [--escrows 1] [--local-only]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

from hameau.accounts import members
from hameau.ledger import service
from hameau.node.db import transaction
from tests.helpers import add_member, make_node

NAMES = ("ana", "ben", "cleo", "dan")


def _accounts(node) -> list[str]:  # type: ignore[no-untyped-def]
    with transaction(node.sessions) as session:
        ids = []
        for name in NAMES:
            account = service.member_account(node, session, members.find_member(session, name))
            service.set_limit(node, session, account, 10**9)
            ids.append(account.id)
        return ids


def _transfers(node, ids: list[str], count: int, per_transaction: int) -> float:  # type: ignore[no-untyped-def]
    """Seconds to append `count` transfers, `per_transaction` in each transaction."""
    from hameau.ledger.models import LedgerAccount

    started = time.perf_counter()
    done = 0
    while done < count:
        with transaction(node.sessions) as session:
            for _ in range(min(per_transaction, count - done)):
                payer, payee = ids[done % 4], ids[(done + 1) % 4]
                service.transfer(
                    node,
                    session,
                    session.get(LedgerAccount, payer),
                    session.get(LedgerAccount, payee),
                    1 + done % 997,
                )  # type: ignore[arg-type]
                done += 1
    return time.perf_counter() - started


def _peer(count: int) -> dict[str, float]:
    """Bare cryptography: what signing and hashing `count` entries costs, and verifying them."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    author, notary = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    entry = b'{"author":"mxxxxxxxxxxxxxxxx","body":{"cents":100,"to":"myyyyyyyyyyyyyyyy"},"kind":"transfer","nonce":1,"ts":1800000000,"v":1}'
    started = time.perf_counter()
    signatures = []
    for number in range(count):
        signature = author.sign(entry + str(number).encode())
        digest = hashlib.sha256(signature + entry).hexdigest().encode()
        signatures.append((signature, notary.sign(digest), digest))
    signed = time.perf_counter() - started
    author_public, notary_public = author.public_key(), notary.public_key()
    started = time.perf_counter()
    for number, (signature, notarised, digest) in enumerate(signatures):
        author_public.verify(signature, entry + str(number).encode())
        hashlib.sha256(signature + entry).hexdigest()
        notary_public.verify(notarised, digest)
    return {
        "peer_sign_seconds": round(signed, 2),
        "peer_verify_seconds": round(time.perf_counter() - started, 2),
    }


def _beside(script: str, *args: str) -> dict | str:
    """Another ledger bench run as a process of its own: its JSON line, or why it failed."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return f"failed: {(done.stderr.strip().splitlines() or ['no output'])[-1]}"
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=2000)
    parser.add_argument("--payments", type=int, default=5, help="replication: payments at B")
    parser.add_argument("--escrows", type=int, default=1, help="EVM: escrows opened, released")
    parser.add_argument("--local-only", action="store_true", help="appends and verify only")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        node = make_node(Path(scratch) / "node")
        for name in NAMES:
            add_member(node, name)
        ids = _accounts(node)
        single = _transfers(node, ids, options.single, 1)
        rest = max(0, options.entries - options.single - 12)
        batched = _transfers(node, ids, rest, 1000)
        node.close()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        started = time.perf_counter()
        verified = subprocess.run(
            [sys.executable, "-m", "hameau", "ledger", "verify", "--data-dir", str(node.layout.root)],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        verify_seconds = time.perf_counter() - started
        size = node.layout.database.stat().st_size
    result = {
        "bench": "ledger",
        "entries": options.entries,
        "appends_per_second_one_per_transaction": round(options.single / single),
        "appends_per_second_1000_per_transaction": round(rest / batched) if rest else None,
        "verify_seconds": round(verify_seconds, 2),
        "verify_said": verified.stdout.strip()[:80],
        "database_mb": round(size / 1e6, 1),
        **_peer(options.entries),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if not options.local_only:
        replicas = ("--payments", str(options.payments), "--notaries", "3")
        result["replication"] = _beside("ledger_replicas.py", *replicas)
        result["evm"] = _beside("ledger_evm.py", "--escrows", str(options.escrows))
        result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
