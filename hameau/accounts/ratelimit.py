"""Login rate limiting: failures counted per account and per address over a sliding window.

Memory stays bounded whatever an attacker sends (at most `MAX_KEYS` entries), but never by
forgetting a member's failures: when the table is full, expired entries go first, then the
oldest entries that protect no account (addresses, names that are not members). A member's
failures are kept until their window ends, however many other names are tried meanwhile.

`LoginLimiter` keeps the table in the process's memory: right for a node on SQLite, which one
process serves. `SharedLoginLimiter` keeps the same table in the database (`login_failures`),
for a node on PostgreSQL served by several processes: failures spread over them count as on
one (docs/scale.md). Same limits, same bound, same order of forgetting.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import Any

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


KEY_LENGTH = 200  # the table's key column; a longer name is counted under its first 200


def _parse(stamps: str) -> list[float]:
    return [float(stamp) for stamp in stamps.split()]


class SharedLoginLimiter:
    """`LoginLimiter`'s limits on the `login_failures` table: one row per account or address
    with its recent failures' times (wall clock: the processes share it, not a monotonic one).
    Expired rows go when a failure is written; past `MAX_KEYS` rows, the oldest that protect
    no member go, as in memory. ``sessions``: the node's session factory."""

    def __init__(
        self,
        sessions: Any,
        per_account: int,
        per_address: int,
        window_seconds: float,
        clock: Callable[[], float] = time.time,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.sessions = sessions
        self.max_keys = max_keys
        self.limits = {"account": per_account, "address": per_address}
        self.window = window_seconds
        self.clock = clock

    @staticmethod
    def _keys(account: str, address: str) -> list[tuple[str, str]]:
        return [("account", account[:KEY_LENGTH]), ("address", address[:KEY_LENGTH])]

    def retry_after(self, account: str, address: str) -> int:
        """Seconds to wait before trying again, or 0 if a try is allowed now."""
        from sqlalchemy import select, tuple_

        from hameau.accounts.models import LoginFailure

        keys = self._keys(account, address)
        with self.sessions() as session:
            rows = session.execute(
                select(LoginFailure.kind, LoginFailure.stamps).where(
                    tuple_(LoginFailure.kind, LoginFailure.key).in_(keys)
                )
            ).all()
        now, wait = self.clock(), 0.0
        for kind, stamps in rows:
            recent = [stamp for stamp in _parse(stamps) if stamp > now - self.window]
            if len(recent) >= self.limits[kind]:
                oldest_counted = recent[len(recent) - self.limits[kind]]
                wait = max(wait, oldest_counted + self.window - now)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, account: str, address: str) -> None:
        from hameau.node.db import retrying

        retrying(self.sessions, lambda session: self._count(session, account, address))

    def _count(self, session: Any, account: str, address: str) -> None:
        """One failure more on both rows, each locked while it is rewritten (two processes
        counting at once both count)."""
        from sqlalchemy import delete

        from hameau.accounts.models import LoginFailure

        now = self.clock()
        made = False
        for key in self._keys(account, address):
            made |= _insert_missing(session, key, now)
            row = session.get(LoginFailure, key, with_for_update=True)
            kept = [stamp for stamp in _parse(row.stamps) if stamp > now - self.window]
            row.stamps = " ".join(
                f"{stamp:.3f}" for stamp in [*kept, now][-max(self.limits.values()) :]
            )
            row.last = now
        if made:
            session.execute(delete(LoginFailure).where(LoginFailure.last <= now - self.window))
            self._make_room(session)

    def _make_room(self, session: Any) -> None:
        """Past `max_keys` rows, down to 90 %: the least recently failed of those that
        protect no member (expired rows are already gone)."""
        from sqlalchemy import and_, delete, func, not_, or_, select, tuple_

        from hameau.accounts.models import LoginFailure, Member

        excess = session.scalar(select(func.count()).select_from(LoginFailure)) - self.max_keys
        if excess <= 0:
            return
        protected = and_(
            LoginFailure.kind == "account",
            or_(LoginFailure.key.in_(select(Member.name)), LoginFailure.key == SETUP),
        )
        oldest = (
            select(LoginFailure.kind, LoginFailure.key)
            .where(not_(protected))
            .order_by(LoginFailure.last)
            .limit(excess + self.max_keys // 10)
        )
        gone = [tuple(row) for row in session.execute(oldest)]
        if gone:
            session.execute(
                delete(LoginFailure).where(tuple_(LoginFailure.kind, LoginFailure.key).in_(gone))
            )

    def succeeded(self, account: str) -> None:
        from sqlalchemy import delete

        from hameau.accounts.models import LoginFailure
        from hameau.node.db import retrying

        key = self._keys(account, "")[0]
        retrying(
            self.sessions,
            lambda session: session.execute(
                delete(LoginFailure).where(LoginFailure.kind == key[0], LoginFailure.key == key[1])
            ),
        )


def _insert_missing(session: Any, key: tuple[str, str], now: float) -> bool:
    """The row of ``key``, made empty if missing (by whichever process comes first); True if
    this one made it."""
    from sqlalchemy.dialects import postgresql, sqlite

    from hameau.accounts.models import LoginFailure

    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(LoginFailure)
        .values(kind=key[0], key=key[1], stamps="", last=now)
        .on_conflict_do_nothing()
    )
    return bool(session.execute(statement).rowcount)
