"""Travel's errors, in a module of their own: the command line says them without loading the
sync engine (a served satellite syncs for `hameau travel sync`, see control.py)."""

from __future__ import annotations

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
