"""Travel mode: a satellite copy of a member's chosen data on a laptop, and the sync that
brings it home. Each domain syncs itself (`hameau/<domain>/sync.py`, the contract in
`node/syncing.py`); travel has the home's side in `api.py` (`api_notes.py`,
`api_calendars.py`), the engine that runs the domains' rounds in `sync.py` (its client to
home in `home.py`; pack, status and return in `lifecycle.py`) and `autosync.py` (see
docs/travel.md)."""
