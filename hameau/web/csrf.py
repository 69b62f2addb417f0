"""CSRF tokens: bound to the login session when there is one, signed and dated otherwise.

A logged-in form's token is an HMAC of the session cookie's hash, so the check needs no
database; before login (the login and setup forms) it is a dated HMAC, and the request's
origin is checked too. No cookie is needed before login, so a logged-out browser holds none.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from starlette.requests import HTTPConnection

SESSION_COOKIE = "hameau_session"
ANONYMOUS_LIFETIME = 12 * 3600


class CSRF:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def _mac(self, message: str) -> str:
        return hmac.new(self.secret, message.encode(), hashlib.sha256).hexdigest()[:40]

    def for_session(self, session_secret: str) -> str:
        return self._mac("s:" + hashlib.sha256(session_secret.encode()).hexdigest())

    def anonymous(self, now: float | None = None) -> str:
        stamp = str(int(now if now is not None else time.time()))
        return f"{stamp}.{self._mac('a:' + stamp)}"

    def token_for(self, connection: HTTPConnection) -> str:
        session_secret = connection.cookies.get(SESSION_COOKIE)
        return self.for_session(session_secret) if session_secret else self.anonymous()

    def valid(self, session_secret: str | None, token: str, now: float | None = None) -> bool:
        if not token or len(token) > 100:
            return False
        if session_secret:
            return hmac.compare_digest(self.for_session(session_secret), token)
        stamp, _, mac = token.partition(".")
        if not stamp.isdigit() or not hmac.compare_digest(self._mac("a:" + stamp), mac):
            return False
        age = (now if now is not None else time.time()) - int(stamp)
        return 0 <= age <= ANONYMOUS_LIFETIME
