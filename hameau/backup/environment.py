"""The backup's part of an admin's export: the household's recovery sheet.

    backup/recovery-sheet.txt   the backup password, the node's identity, the targets

Only an admin's export carries it (an admin can print it anyway), and only once backups are
set up. Nothing is imported from it: a restore reads it with `hameau backup restore --sheet`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.backup import key, service
from hameau.node.datadir import Node
from hameau.node.environment import ArchiveWriter

SHEET = "backup/recovery-sheet.txt"


def export(node: Node, session: Session, member: Member, archive: ArchiveWriter) -> None:
    if member.is_admin and key.has_key(node.layout):
        archive.add(SHEET, service.recovery_sheet(node, session).encode())
