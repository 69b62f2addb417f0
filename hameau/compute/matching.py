"""Matching a job with providers, two-sided in the spirit of HTCondor's ClassAds: pure rules,
no I/O (the driver asks the providers and brings their answers here).

- The provider's side decides first, at the provider: its offer (memory, fuel, hours, price)
  and its owner's idleness (`offers.accepts`, `idle.is_idle`); an answer that refuses is never
  matched.
- The job's requirements: the provider's memory and largest job at least the job's, its price
  at most the job's price cap, and the job's escrow for one run within what is left of the
  budget.
- The job's preferences, in order: the cheapest, then the best record (most agreements, fewest
  disputes and failures), then the node id (so that the choice is the same every time).
- A provider runs one replica of a job at most, and one that failed or disagreed on the job is
  not asked again for it.

Adaptive replication (BOINC's): a job needs `redundancy` agreeing runs (2 by default); a
provider whose last TRUST_STREAK outputs all agreed (no dispute since) runs a job alone when the
job's budget is at most TRUST_MAX_CENTS, except every SPOT_CHECK-th such job, which is still
replicated so that a trusted provider keeps being checked. A dispute resets its streak to zero.
"""

from __future__ import annotations

from dataclasses import dataclass

TRUST_STREAK = 10  # agreements in a row before a provider may run a low-value job alone
TRUST_MAX_CENTS = 100  # a job worth more than 1 € is always replicated
SPOT_CHECK = 5  # every 5th job a trusted provider would run alone is still replicated


@dataclass(frozen=True)
class Ask:
    """The job's side: what it needs and what it may pay."""

    memory_bytes: int
    fuel: int
    price_max: int  # cents per million fuel
    budget_left: int  # cents not yet escrowed for this job


@dataclass(frozen=True)
class Answer:
    """A provider's side, as it answered: whether it takes the job, and its offer."""

    provider: str  # node id
    name: str
    accepts: bool
    reason: str
    price: int
    memory_bytes: int
    max_fuel: int


@dataclass(frozen=True)
class Record:
    agreed: int = 0
    disagreed: int = 0
    failed: int = 0
    streak: int = 0


def run_cost(fuel: int, price: int) -> int:
    """Cents for `fuel` at `price` cents per million fuel, rounded up (at least 1 cent)."""
    return max(1, -(-fuel * price // 1_000_000))


def why_not(ask: Ask, answer: Answer) -> str | None:
    """None if the job's requirements hold for this provider, else why not (English)."""
    if not answer.accepts:
        return answer.reason or "it does not take jobs now"
    if answer.memory_bytes < ask.memory_bytes:
        return "it lends less memory than the job needs"
    if answer.max_fuel < ask.fuel:
        return "it takes smaller jobs than this one"
    if answer.price > ask.price_max:
        return "its price is above the job's price cap"
    if run_cost(ask.fuel, answer.price) > ask.budget_left:
        return "what is left of the budget does not cover one more run at its price"
    return None


def score(record: Record) -> int:
    """A record's worth for the preference: agreements count, disputes and failures weigh."""
    return record.agreed - 5 * record.disagreed - 2 * record.failed


def choose(
    ask: Ask,
    answers: list[Answer],
    records: dict[str, Record],
    excluded: set[str],
    count: int,
) -> list[Answer]:
    """Up to `count` providers for a job, best first, each meeting both sides' requirements."""
    fit = [a for a in answers if a.provider not in excluded and why_not(ask, a) is None]
    fit.sort(key=lambda a: (a.price, -score(records.get(a.provider, Record())), a.provider))
    chosen: list[Answer] = []
    left = ask.budget_left
    for answer in fit:
        cost = run_cost(ask.fuel, answer.price)
        if len(chosen) < count and cost <= left:
            chosen.append(answer)
            left -= cost
    return chosen


def trusted(record: Record) -> bool:
    return record.streak >= TRUST_STREAK


def replicas(redundancy: int, budget_cents: int, record: Record, job_number: int) -> int:
    """How many agreeing runs a job needs when its best provider has this record."""
    if redundancy <= 1:
        return 1
    alone = trusted(record) and budget_cents <= TRUST_MAX_CENTS
    if alone and job_number % SPOT_CHECK != 0:
        return 1
    return redundancy


def recorded(record: Record, verdict: str) -> Record:
    """A provider's record after one run's verdict: agreed, disagreed or failed."""
    if verdict == "agreed":
        return Record(record.agreed + 1, record.disagreed, record.failed, record.streak + 1)
    if verdict == "disagreed":
        return Record(record.agreed, record.disagreed + 1, record.failed, 0)
    return Record(record.agreed, record.disagreed, record.failed + 1, record.streak)
