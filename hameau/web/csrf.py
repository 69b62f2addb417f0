"""CSRF tokens: bound to the login session when there is one, signed and dated otherwise.

A logged-in form's token is an HMAC of the session cookie's hash and a nonce drawn for each
page, so the check needs no database, and no two pages carry the same token: pages are
compressed, and a secret repeated in every compressed answer could be guessed from their sizes
(BREACH) by whoever sees the traffic and can put text in pages. Before login (the login and setup forms) it is a dated HMAC, and the request's
origin is checked too. No cookie is needed before login, so a logged-out browser holds none.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from starlette.requests import HTTPConnection

SESSION_COOKIE = "hameau_session"
# A request relayed for a visit from another home carries no cookie: the part that
# authenticated it puts its session's secret here (hameau/hamlet/visit_auth.py).
VISIT_SESSION = "hameau.visit_session"
ANONYMOUS_LIFETIME = 12 * 3600


class CSRF:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def _mac(self, message: str) -> str:
        return hmac.new(self.secret, message.encode(), hashlib.sha256).hexdigest()[:40]

    def for_session(self, session_secret: str, nonce: str | None = None) -> str:
        nonce = nonce or secrets.token_hex(8)
        session = hashlib.sha256(session_secret.encode()).hexdigest()
        return f"{nonce}~{self._mac(f's:{nonce}:{session}')}"

    def anonymous(self, now: float | None = None) -> str:
        stamp = str(int(now if now is not None else time.time()))
        return f"{stamp}.{self._mac('a:' + stamp)}"

    def token_for(self, connection: HTTPConnection) -> str:
        session_secret = connection.scope.get(VISIT_SESSION) or connection.cookies.get(
            SESSION_COOKIE
        )
        return self.for_session(session_secret) if session_secret else self.anonymous()

    def valid(self, session_secret: str | None, token: str, now: float | None = None) -> bool:
        if not token or len(token) > 100:
            return False
        if session_secret:
            nonce, _, mac = token.partition("~")
            if not nonce.isalnum() or len(nonce) > 32:
                return False
            return hmac.compare_digest(self.for_session(session_secret, nonce), token)
        stamp, _, mac = token.partition(".")
        if not stamp.isdigit() or not hmac.compare_digest(self._mac("a:" + stamp), mac):
            return False
        age = (now if now is not None else time.time()) - int(stamp)
        return 0 <= age <= ANONYMOUS_LIFETIME
