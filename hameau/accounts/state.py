"""What the accounts keep in `app.state` from the start (see hameau/parts.py); a light module,
so the server starts with the login and home pages only, not the account and admin pages."""

from __future__ import annotations

from typing import Any

from hameau.accounts import members, sessions


def attach(app: Any, node: Any) -> None:
    """The accounts' part of the served app (hameau/parts.py): session lifetimes, the login
    limiter and, on a node without members, the one-time setup code."""
    import hashlib
    import hmac

    from sqlalchemy import select

    from hameau.accounts.models import Member
    from hameau.accounts.ratelimit import LoginLimiter, SharedLoginLimiter

    def names() -> list[str]:
        with node.sessions() as session:
            return list(session.scalars(select(Member.name)))

    settings = node.settings
    app.state.lifetimes = sessions.Lifetimes.from_settings(settings)
    limits = (
        settings.login_max_failures,
        settings.login_max_failures_per_address,
        settings.login_window_minutes * 60,
    )
    if node.engine.dialect.name == "sqlite":  # one process serves it: the table in memory
        app.state.limiter = LoginLimiter(*limits, accounts=names)  # members' never forgotten early
    else:  # several processes may serve it: the table in the database (docs/scale.md)
        app.state.limiter = SharedLoginLimiter(node.sessions, *limits)
    with node.sessions() as session:
        empty = members.count_members(session) == 0
    # The first admin is created in the browser, from loopback or with this code, valid until
    # then; derived from the node's secret, so every process serving the node takes the same.
    code = hmac.new(node.secret, b"hameau/setup-code", hashlib.sha256).hexdigest()[:8]
    app.state.setup_code = code if empty else None
