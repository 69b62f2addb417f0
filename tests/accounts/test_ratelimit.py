from hameau.accounts.ratelimit import MAX_KEYS, LoginLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_account_is_paused_after_its_failures_then_freed_by_time() -> None:
    clock = Clock()
    limiter = LoginLimiter(per_account=3, per_address=100, window_seconds=60, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("alex", "a") == 0
        limiter.failed("alex", "a")
        clock.now += 1
    assert limiter.retry_after("alex", "b") == 57  # now 1003; the first failure leaves at 1060
    clock.now += 57
    assert limiter.retry_after("alex", "b") == 0


def test_success_clears_the_account_but_not_the_address() -> None:
    limiter = LoginLimiter(per_account=2, per_address=3, window_seconds=60, clock=Clock())
    for name in ("x", "y"):
        limiter.failed(name, "addr")
    limiter.succeeded("x")
    assert limiter.retry_after("x", "other") == 0
    limiter.failed("z", "addr")
    assert limiter.retry_after("anyone", "addr") > 0


def test_memory_stays_bounded_under_a_spray_of_names() -> None:
    limiter = LoginLimiter(per_account=5, per_address=10**9, window_seconds=60, clock=Clock())
    for number in range(MAX_KEYS + 500):
        limiter.failed(f"user{number}", "addr")
    assert len(limiter._failures) <= MAX_KEYS


def test_a_members_failures_outlive_a_spray_of_other_names_from_many_addresses() -> None:
    clock = Clock()
    limiter = LoginLimiter(
        per_account=5, per_address=20, window_seconds=900, clock=clock, accounts=lambda: ["alex"]
    )
    for _ in range(5):
        limiter.failed("alex", "198.51.100.1")
    assert limiter.retry_after("alex", "203.0.113.9") > 0
    # An attacker tries to push alex out of the table: 3 × MAX_KEYS names, each address
    # staying under its own limit (IPv6 gives an attacker addresses to spare).
    for number in range(3 * MAX_KEYS):
        clock.now += 0.01
        limiter.failed(f"name{number}", f"2001:db8::{number // 10:x}")
    assert len(limiter._failures) <= MAX_KEYS
    assert limiter.retry_after("alex", "203.0.113.9") > 0  # still paused, from anywhere
    clock.now += 900
    assert limiter.retry_after("alex", "203.0.113.9") == 0  # its window ended


def test_the_setup_code_tries_are_never_forgotten_early() -> None:
    clock = Clock()
    limiter = LoginLimiter(per_account=5, per_address=10, window_seconds=900, clock=clock)
    for _ in range(5):
        limiter.failed("(setup)", "198.51.100.1")
    for number in range(2 * MAX_KEYS):
        limiter.failed(f"name{number}", f"2001:db8::{number:x}")
    assert limiter.retry_after("(setup)", "203.0.113.9") > 0
