"""Login rate limiting: failures counted per account and per address over a sliding window.

Memory stays bounded whatever an attacker sends (at most `MAX_KEYS` entries), but never by
forgetting a member's failures: when the table is full, expired entries go first, then the
oldest entries that protect no account (addresses, names that are not members). A member's
failures are kept until their window ends, however many other names are tried meanwhile.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

MAX_KEYS = 10_000
SETUP = "(setup)"  # the account key of the setup code's tries (accounts.login): always kept


def _no_accounts() -> Iterable[str]:
    return ()


class LoginLimiter:
    def __init__(
        self,
        per_account: int,
        per_address: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        accounts: Callable[[], Iterable[str]] = _no_accounts,
    ) -> None:
        """``accounts`` lists the members' names; it is asked only when the table is full."""
        self.limits = {"account": per_account, "address": per_address}
        self.window = window_seconds
        self.clock = clock
        self.accounts = accounts
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        stamps = self._failures.get(key)
        if stamps is None:
            return deque()
        horizon = self.clock() - self.window
        while stamps and stamps[0] <= horizon:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
        return stamps

    def retry_after(self, account: str, address: str) -> int:
        """Seconds to wait before trying again, or 0 if a try is allowed now."""
        wait = 0.0
        for kind, value in (("account", account), ("address", address)):
            stamps = self._recent((kind, value))
            if len(stamps) >= self.limits[kind]:
                oldest_counted = stamps[len(stamps) - self.limits[kind]]
                wait = max(wait, oldest_counted + self.window - self.clock())
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, account: str, address: str) -> None:
        now = self.clock()
        for key in (("account", account), ("address", address)):
            stamps = self._failures.setdefault(key, deque())
            stamps.append(now)
            self._failures.move_to_end(key)
            if len(stamps) > max(self.limits.values()):
                stamps.popleft()
        if len(self._failures) > MAX_KEYS:
            self._make_room()

    def _make_room(self) -> None:
        """Down to 90 % of `MAX_KEYS` (so the sweep runs rarely): expired entries first,
        then the least recently failed of those that protect no member."""
        horizon = self.clock() - self.window
        for key in [key for key, stamps in self._failures.items() if stamps[-1] <= horizon]:
            del self._failures[key]
        excess = len(self._failures) - MAX_KEYS * 9 // 10
        if excess <= 0:
            return
        kept = {("account", name) for name in self.accounts()} | {("account", SETUP)}
        for key in [key for key in self._failures if key not in kept][:excess]:
            del self._failures[key]

    def succeeded(self, account: str) -> None:
        self._failures.pop(("account", account), None)
