"""Login rate limiting: failures counted per account and per address over a sliding window."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_KEYS = 10_000  # bounded memory whatever an attacker sends


class LoginLimiter:
    def __init__(
        self,
        per_account: int,
        per_address: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = {"account": per_account, "address": per_address}
        self.window = window_seconds
        self.clock = clock
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
        while len(self._failures) > MAX_KEYS:
            self._failures.popitem(last=False)

    def succeeded(self, account: str) -> None:
        self._failures.pop(("account", account), None)
