"""Travel mode: a satellite copy of a member's chosen data, and the sync that brings it home.

So far: the reconciliation rules (`merge.py`), proven by property tests, and the files
journal they read (`hameau/files/journal.py`), kept by every door. The satellite, the
transport and the commands come next (see the closing notes of the travel issue).
"""
