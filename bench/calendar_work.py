"""The calendar workload of bench/calendar_storage.py, the same for Radicale's storage and
the database's floor (bench/calendar_floor.py): the events, and what each client does at
each step. Plain data and pure functions, so the floor's processes can take them.

- The household's calendar holds HOUSEHOLD_EVENTS events, each member's OWN_EVENTS, spread
  over 120 days from 2026-12-01 (a month's query finds about a quarter of them).
- A writer (member i) edits events, one at each step: its own, then the household's (the
  household's events h{20i}…h{20i+19}), turn by turn; no collection grows during a run.
- A reader (another member) does, turn by turn: a calendar-query of December on the
  household's calendar, a sync-collection of it from its last token, the same two on its
  own calendar (what a phone's client does at each sync).
"""

from __future__ import annotations

from datetime import date, timedelta

HOUSEHOLD = "household/agenda"
HOUSEHOLD_EVENTS = 200
OWN_EVENTS = 30
PER_WRITER = 20  # household events each writer edits
FIRST_DAY = date(2026, 12, 1)


def event(uid: str, number: int, version: int = 0) -> str:
    day = FIRST_DAY + timedelta(days=number % 120)
    stamp = day.strftime("%Y%m%d")
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//hameau bench//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261201T000000Z\r\nDTSTART:{stamp}T100000Z\r\n"
        f"DTEND:{stamp}T110000Z\r\nSUMMARY:Permanence {uid} (version {version})\r\n"
        "LOCATION:Local de l'association\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def own(member: str) -> str:
    return f"{member}/agenda"


def collections(members: list[str]) -> dict[str, dict[str, str]]:
    """Every calendar's events at the start, by path then UID."""
    found = {HOUSEHOLD: {f"h{n:03d}": event(f"h{n:03d}", n) for n in range(HOUSEHOLD_EVENTS)}}
    for member in members:
        found[own(member)] = {f"{member}-{n:02d}": event(f"{member}-{n:02d}", n)
                              for n in range(OWN_EVENTS)}  # fmt: skip
    return found


def plan(role: str, member: str, writer_number: int = 0) -> dict[str, object]:
    return {"role": role, "member": member, "writer": writer_number}


def write_step(plan: dict[str, object], step: int) -> tuple[str, str, str]:
    """(calendar path, UID, body) of a writer's edit at this step."""
    turn = step // 2
    if step % 2 == 0:
        member = str(plan["member"])
        number = turn % OWN_EVENTS
        uid, path = f"{member}-{number:02d}", own(member)
    else:
        number = int(plan["writer"]) * PER_WRITER + turn % PER_WRITER  # type: ignore[call-overload]
        uid, path = f"h{number:03d}", HOUSEHOLD
    return path, uid, event(uid, number, step + 1)


def read_step(plan: dict[str, object], step: int) -> tuple[str, str]:
    """(kind, calendar path) of a reader's request at this step: "query" or "sync"."""
    kind = "query" if step % 2 == 0 else "sync"
    path = HOUSEHOLD if step % 4 < 2 else own(str(plan["member"]))
    return kind, path
