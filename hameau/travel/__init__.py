"""Travel mode: a satellite copy of a member's chosen data on a laptop, and the sync that
brings it home. The rules are in `files/merge.py` and `calendars.py`, the home's side in `api.py`
(`api_notes.py`, `api_calendars.py`), the satellite's in `sync.py` (its client to home in
`home.py`; pack, status and return in `lifecycle.py`) and `autosync.py` (see docs/travel.md)."""
