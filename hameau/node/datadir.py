"""The node's data dir: what lives where, creating it, and opening it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from hameau.config import Settings
from hameau.node import migrate, tls
from hameau.node.blobs import BlobStore, load_store
from hameau.node.db import GroupCommit, make_engine, make_sessionmaker, transaction
from hameau.node.identity import (
    NodeIdentity,
    check_private,
    create_identity,
    create_secret,
    load_identity,
    load_secret,
)
from hameau.node.layout import Layout, exists
from hameau.node.models import NodeInfo
from hameau.node.outages import Outages


class NodeExists(Exception):
    """`init` found a node already in this data dir."""


class NodeMissing(Exception):
    """No node has been initialised in this data dir."""


@dataclass
class Node:
    """An opened node: what every part of the app is built from."""

    settings: Settings
    layout: Layout
    secret: bytes
    engine: Engine
    sessions: sessionmaker[Session]
    name: str
    # What the assembly hands down to parts that must not import it (moving home: the export
    # and import of a member's environment); set by the app factory and the command line.
    assembled: dict[str, Any] = field(default_factory=dict)
    # When the database or the content store was last found unreachable (node/outages.py).
    outages: Outages = field(default_factory=Outages)

    @cached_property
    def blobs(self) -> BlobStore:
        """The content store the `blob_store` setting names."""
        store = load_store(self.settings.blob_store, self.layout.blobs, self.settings)
        store.outages = self.outages
        return store

    def contents_room(self) -> int:
        """Bytes free on the disk contents are written to: the content store's folder (it may
        be a disk of its own), or the data dir's when the store is not on this machine."""
        import shutil

        return shutil.disk_usage(self.blobs.local_folder() or self.layout.root).free

    def store_at(self, url: str, settings: Any) -> BlobStore:
        """Another content store for this node (`move-store`'s target), spooling in its folder."""
        return load_store(url, self.layout.blobs, settings)

    @cached_property
    def group(self) -> GroupCommit:
        """Writes made durable together (see `node.group`): for many small writes at once."""
        return GroupCommit(self.layout.database, self.layout.database_url, self.outages)

    @cached_property
    def identity(self) -> NodeIdentity:
        """The Ed25519 key, loaded the first time something signs."""
        return load_identity(self.layout.key_file)

    def close(self) -> None:
        if "group" in self.__dict__:
            self.group.close()
        self.engine.dispose()


def init_node(settings: Settings, name: str) -> Node:
    """Create the data dir: identity, migrated database, blob store. Refuses to overwrite."""
    layout = Layout.of(settings)
    if layout.key_file.exists() or (layout.on_sqlite and layout.database.exists()):
        raise NodeExists(f"A node already exists in {layout.root}; nothing was changed.")
    name = name.strip()
    if not name:
        raise ValueError("The node needs a name.")
    outages = Outages()
    engine = make_engine(layout.database_url, outages=outages)
    if not layout.on_sqlite and migrate.current_revision(engine) is not None:
        engine.dispose()  # a database is one node's: never two data dirs on one
        raise NodeExists(
            "The database database_url names holds a node already; nothing was changed."
        )
    layout.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    layout.blobs.mkdir(exist_ok=True, mode=0o700)
    identity = create_identity(layout.key_file)
    create_secret(layout.secret_file)
    tls.ensure(layout.root, tls.names_for(settings), name)  # what peers pin (serve --tls)
    migrate.upgrade(engine)
    if layout.on_sqlite:
        os.chmod(layout.database, 0o600)
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        session.add(NodeInfo(id=1, name=name, public_key=identity.public_key_b64))
    node = Node(settings, layout, load_secret(layout.secret_file), engine, factory, name)
    node.outages = outages
    node.identity = identity  # type: ignore[misc]
    return node


def open_node(settings: Settings, upgrade: bool = True) -> Node:
    """Open an existing node, bringing its schema up to date."""
    layout = Layout.of(settings)
    if not exists(layout):
        raise NodeMissing(
            f"No node in {layout.root}; create one with `hameau init --name NAME`"
            " (or `hameau demo`)."
        )
    check_private(layout.key_file)
    outages = Outages()
    engine = make_engine(layout.database_url, outages=outages)
    if upgrade:
        migrate.upgrade(engine)
    factory = make_sessionmaker(engine)
    with factory() as session:
        info = session.scalars(select(NodeInfo)).one()
    node = Node(settings, layout, load_secret(layout.secret_file), engine, factory, info.name)
    node.outages = outages
    return node
