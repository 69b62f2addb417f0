"""Verifying a job's results by redundancy, and what each run is paid: pure rules, no I/O.

- A run's result is its sandbox status with its output hash ("ok" and the tree hash of its
  outputs, or "fuel", "trap" … with none); results are compared whole.
- The job is verified when `needed` runs (2 by default, 1 for a trusted provider: matching.py)
  have the same result: those runs agreed, every other finished run disagreed.
- While runs are in flight, wait. When the finished runs disagree and none is in flight, one
  more provider is asked (a third, on a mismatch of two), up to `needed` + 1 finished runs;
  past that the job fails, nobody is paid and the escrows are refunded.
- A run that failed (its provider killed, vacated or unreachable) is replaced at once, while the
  others go on: `wanted` says how many more providers to ask.
- Pay: an agreeing run is paid its fuel used at its price, at most its escrow, whether the
  agreed result is a success or a failure the job itself caused (fuel used up, a trap, its
  memory or output cap, a non-zero exit): the work was done and two providers vouch for it.
  A module refused before it ran (malformed: not valid WebAssembly, no `_start`, an import
  the sandbox does not give; or asking more memory than allowed at start) used no fuel and
  earns nothing, nor does a free provider (price 0). Every other run earns nothing (its
  escrow goes back to the member whole).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hameau.compute.matching import run_cost


@dataclass(frozen=True)
class Result:
    run: str
    state: str  # "running" | "done" | "failed"
    status: str = ""
    output_hash: str = ""
    fuel_used: int = 0
    price: int = 0
    escrow_cents: int = 0


@dataclass(frozen=True)
class Decision:
    verdict: str  # "wait" | "more" | "agreed" | "failed"
    wanted: int = 0  # providers to ask now ("more")
    agreed: tuple[str, ...] = ()  # runs whose result the majority shares
    disagreed: tuple[str, ...] = ()
    result: tuple[str, str] = ("", "")  # the agreed (status, output hash)


def decide(results: list[Result], needed: int) -> Decision:
    done = [r for r in results if r.state == "done"]
    running = sum(1 for r in results if r.state == "running")
    counts = Counter((r.status, r.output_hash) for r in done)
    if counts:
        (best, size) = max(counts.items(), key=lambda item: (item[1], item[0]))
        if size >= needed:
            agreed = tuple(r.run for r in done if (r.status, r.output_hash) == best)
            others = tuple(r.run for r in done if (r.status, r.output_hash) != best)
            return Decision("agreed", agreed=agreed, disagreed=others, result=best)
    if running:
        short = needed - len(done) - running  # a failed run's replacement, beside the others
        return Decision("more", wanted=short) if short > 0 else Decision("wait")
    if len(done) >= needed + 1:
        return Decision("failed", disagreed=tuple(r.run for r in done))
    wanted = max(1, needed - len(done)) if len(done) < needed else 1
    return Decision("more", wanted=wanted)


# A result of these statuses means the module was refused before it ran: nothing to pay.
NOT_RUN = frozenset({"malformed"})


def payout(result: Result, agreed: bool) -> int:
    """Cents paid for a run: its fuel at its price for an agreeing run (rounded up), at most
    its escrow; nothing for a module that never ran or a free provider."""
    if not agreed or result.status in NOT_RUN or result.fuel_used * result.price == 0:
        return 0
    return min(result.escrow_cents, run_cost(result.fuel_used, result.price))
