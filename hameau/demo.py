"""Content for the demo household, so a newcomer sees the product rather than empty lists.

Everything goes through the domains' own services, as a member's browser would."""

from __future__ import annotations

import struct
import zlib
from datetime import datetime, time, timedelta

from hameau.node import datadir
from hameau.node.db import transaction

HOUSEHOLD_FILES = {
    "Liste de courses.txt": "Pain\nLait\nTomates\nCafé\nFromage pour la raclette\n",
    "Papiers/Assurance habitation.txt": (
        "Assurance habitation — contrat n° 2026-4411\n"
        "Échéance : 1er mars. Franchise : 150 €.\n"
        "En cas de dégât des eaux, appeler le 01 23 45 67 89.\n"
    ),
    "Photos de vacances/Légendes.txt": (
        "Bretagne, août : la plage de Trégastel, le phare, Louise et son cerf-volant.\n"
    ),
}
NOTES = {
    "alex": [
        "# Menu de la semaine\n\n- Lundi : soupe de potiron\n- Mardi : gratin dauphinois\n"
        "- Mercredi : crêpes\n- Jeudi : poisson et riz\n- Vendredi : pizza maison\n",
        "# Potager\n\nSemer les radis en mars. Arroser les tomates le soir.\n"
        "Penser au purin d'ortie pour les courgettes.\n",
    ],
    "sam": ["# Idées de sorties\n\n- Balade en forêt\n- Musée des arts et métiers\n"],
}


def _tiny_png(width: int = 8, height: int = 8) -> bytes:
    """A small sky-and-sand picture, made here so the demo carries no binary file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + (b"\x87\xce\xeb" if y < height // 2 else b"\xf4\xe1\xa4") * width
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def add_content(node: datadir.Node) -> None:
    """Files, notes, a conversation and this week's events for the demo members."""
    _files_notes_and_messages(node)
    _events(node)


def _files_notes_and_messages(node: datadir.Node) -> None:
    from hameau.accounts import members
    from hameau.files import service as files
    from hameau.messages import service as messages
    from hameau.notes import service as notes

    with transaction(node.sessions) as session:
        people = {name: members.find_member(session, name) for name in ("alex", "sam", "camille")}
        alex, sam = people["alex"], people["sam"]
        household = files.space(alex, "household")
        for folder in ("Papiers", "Photos de vacances"):
            files.make_folder(session, alex, household, [folder])
        contents = {path: text.encode() for path, text in HOUSEHOLD_FILES.items()}
        contents["Photos de vacances/Plage.png"] = _tiny_png()
        for path, data in contents.items():
            plan = files.plan_write(session, alex, household, path.split("/"), len(data))
            digest = node.blobs.put(data)
            files.record_write(session, plan, alex, digest, len(data), "", node.blobs)
        for name, sources in NOTES.items():
            for source in sources:
                notes.create(session, people[name], source)
        thread = messages.start(
            session, sam, [alex], "Dîner de ce soir", "On mange quoi ce soir ? J'ai des courgettes."
        )
        messages.post(session, alex, thread, "Un gratin ? Je rentre vers 19 h.")
        messages.post(session, sam, thread, "Parfait, je lance le four à 18 h 30 !")


def _events(node: datadir.Node) -> None:
    from hameau.calendar.store import CalendarStore

    calendars = CalendarStore(node)
    calendars.ensure("alex")
    today = datetime.now().astimezone().date()

    def at(days: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(today + timedelta(days=days), time(hour, minute)).astimezone()

    calendars.save_event(
        "alex", "household/agenda", "Marché", at(0, 9), at(0, 10, 30), location="Place de l'église"
    )
    calendars.save_event(
        "alex", "household/agenda", "Réunion du foyer", at(2, 19), at(2, 20),
        description="Vacances de février, ménage, budget des courses.",
    )  # fmt: skip
    calendars.save_event("alex", "alex/agenda", "Dentiste — Alex", at(4, 14), at(4, 15))
