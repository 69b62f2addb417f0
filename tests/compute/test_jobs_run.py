"""A provider runs a job for a peer in the real sandbox (the repository's Monte Carlo pi, built
for WASI): the outputs stored, the receipt signed with the node's key over the outputs' tree
hash; a provider set to tamper signs another hash for changed outputs, which the comparison of
two providers then catches."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from hameau.compute import jobs, provider, receipts, sandbox, state, verify
from hameau.compute.models import ComputeProvided
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import make_node


def _pi() -> bytes:
    from hameau.compute.workloads import WorkloadUnavailable, build

    try:
        return build("pi").read_bytes()
    except WorkloadUnavailable as missing:
        pytest.skip(f"not run: {missing}")


def _ran(node: Node, module: bytes, run: str) -> ComputeProvided:
    blobs = jobs.store(node)
    digest, _ = jobs.put(blobs, io.BytesIO(module))
    with transaction(node.sessions) as session:
        session.add(ComputeProvided(
            run=run, job="j" * 32, asker="a" * 16, asker_name="A", module=digest,
            args=["7", "20000"], inputs=[], seed=0, memory_bytes=64 << 20, fuel=10**8,
            wall_seconds=60, price=2, escrow_id="", outputs=[],
        ))  # fmt: skip
    provider.execute(node, run)
    with node.sessions() as session:
        row = session.query(ComputeProvided).filter_by(run=run).one()
        session.expunge(row)
    return row


def _result(row: ComputeProvided) -> verify.Result:
    return verify.Result(row.run, "done", row.status, row.output_hash, row.fuel_used, 2, 100)


def test_a_run_is_signed_over_its_outputs_and_a_tampering_provider_is_outvoted(
    tmp_path: Path,
) -> None:
    module = _pi()
    honest, other = make_node(tmp_path / "b"), make_node(tmp_path / "c")
    dishonest = make_node(tmp_path / "d", compute_tamper_outputs=True)
    try:
        rows = [
            _ran(node, module, f"{n}" * 32)
            for n, node in zip("bcd", (honest, other, dishonest), strict=True)
        ]
        b, c, d = rows
        assert b.state == "done" and b.status == "ok" and b.fuel_used > 0
        key = honest.identity.private_key.public_key()
        given = receipts.check(b.receipt, b.signature, key, {"run": b.run, "module_hash": b.module})
        assert given.output_hash == b.output_hash and given.fuel_used == b.fuel_used
        assert given.input_hash == receipts.input_hash(["7", "20000"], [], 0)
        folder = tmp_path / "out"
        for output in b.outputs:
            (folder / output["name"]).parent.mkdir(parents=True, exist_ok=True)
            (folder / output["name"]).write_bytes(jobs.store(honest).read(output["digest"]))
        assert sandbox.tree_hash(folder) == b.output_hash
        assert (folder / "pi.txt").read_text().startswith("3.1")
        assert c.output_hash == b.output_hash and c.fuel_used == b.fuel_used  # deterministic
        assert d.output_hash != b.output_hash  # signed, but not what the others got
        decided = verify.decide([_result(d), _result(b)], 2)
        assert decided.verdict == "more"  # a mismatch: a third provider is asked
        decided = verify.decide([_result(d), _result(b), _result(c)], 2)
        assert decided.agreed == (b.run, c.run) and decided.disagreed == (d.run,)
    finally:
        for node in (honest, other, dishonest):
            node.close()


def test_content_arrives_in_pieces_resumes_and_is_checked(tmp_path: Path) -> None:
    import hashlib

    from hameau.compute.errors import JobRefused

    node = make_node(tmp_path / "p")
    try:
        data = bytes(range(256)) * 100
        digest = hashlib.sha256(data).hexdigest()
        assert provider.receive(node, digest, 0, len(data), data[:10_000]) == 10_000
        assert provider.receive(node, digest, 0, len(data), data[:10_000]) == 10_000  # again
        assert provider.receive(node, digest, 20_000, len(data), data[20_000:]) == 10_000  # ahead
        assert provider.receive(node, digest, 10_000, len(data), data[10_000:]) == len(data)
        assert jobs.store(node).read(digest) == data
        wrong = hashlib.sha256(b"other").hexdigest()
        with pytest.raises(JobRefused, match="does not hash"):
            provider.receive(node, wrong, 0, 5, b"12345")
        assert not jobs.store(node).exists(wrong)
        with pytest.raises(JobRefused):
            provider.receive(node, "../etc", 0, 5, b"12345")
    finally:
        node.close()


def test_runs_a_restarted_provider_lost_are_said_killed(tmp_path: Path) -> None:
    node = make_node(tmp_path / "p")
    try:
        with transaction(node.sessions) as session:
            session.add(ComputeProvided(
                run="r" * 32, job="j" * 32, asker="a" * 16, asker_name="A", module="m" * 64,
                args=[], inputs=[], seed=0, memory_bytes=1 << 20, fuel=1, wall_seconds=1,
                price=0, escrow_id="", outputs=[],
            ))  # fmt: skip
        state.recover(node)
        with node.sessions() as session:
            row = session.query(ComputeProvided).one()
            assert (row.state, row.status) == ("failed", "killed")
    finally:
        node.close()
