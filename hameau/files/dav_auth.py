"""WebDAV logins: HTTP Basic with the member's name and one of their app passwords."""

from __future__ import annotations

from typing import Any

from wsgidav.dc.base_dc import BaseDomainController

from hameau.accounts import tokens
from hameau.node.datadir import Node
from hameau.node.db import retrying

MEMBER_KEY = "hameau.member_id"


class AppPasswords(BaseDomainController):
    """HTTP Basic with the member's name and one of their app passwords."""

    def __init__(self, wsgidav_app: Any, config: dict[str, Any]) -> None:
        super().__init__(wsgidav_app, config)
        self.node: Node = config["hameau.node"]

    def get_domain_realm(self, path_info: str, environ: dict[str, Any]) -> str:
        return "hameau"

    def require_authentication(self, realm: str, environ: dict[str, Any]) -> bool:
        return True

    def basic_auth_user(
        self, realm: str, user_name: str, password: str, environ: dict[str, Any]
    ) -> bool:
        member_id = retrying(self.node.sessions, lambda s: tokens.login(s, user_name, password))
        if member_id is None:
            return False
        environ[MEMBER_KEY] = member_id
        return True

    def supports_http_digest_auth(self) -> bool:
        return False
