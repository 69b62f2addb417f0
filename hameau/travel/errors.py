"""Travel's errors, in a module of their own: the command line says them without loading the
sync engine (a served satellite syncs for `hameau travel sync`, see control.py)."""

from __future__ import annotations

from typing import Any

from hameau.errors import HameauError


class HomeUnreachable(HameauError):
    status = 503


class SyncFailed(HameauError):
    status = 502


class WrongPassword(HameauError):
    status = 401


class SatelliteStopped(HameauError):
    """The served satellite went away while it synced for the command line."""

    status = 503


class HomeMoved(HameauError):
    """Home answered that the member's home is another node now (moving home): `to`."""

    status = 308

    def __init__(self, message: str, to: str, **params: Any) -> None:
        super().__init__(message, to=to, **params)
        self.to = to
