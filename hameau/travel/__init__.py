"""Travel mode: a satellite copy of a member's chosen data on a laptop, and the sync that
brings it home. The rules are in `merge.py` and `calendars.py`, the home's side in `api.py`,
the satellite's in `sync.py` and `autosync.py` (see docs/travel.md)."""
