"""What travel keeps in `app.state` from the start (see hameau/parts.py); a light module, so
the server starts without travel's pages."""

from __future__ import annotations

from typing import Any

from hameau.travel import satellite as record


def attach(app: Any, node: Any) -> None:
    """Travel's part of the served app (hameau/parts.py). A satellite (a travel copy of one
    member's things) is a node with a satellite record; it syncs by itself while served."""
    from hameau.travel.reach import Proofs

    app.state.satellite = record.load(node.layout.root)
    app.state.autosync = None
    if app.state.satellite is not None:
        from hameau.travel.autosync import AutoSync
        from hameau.travel.control import ControlServer

        app.state.autosync = AutoSync(node, app.state.syncing)
        control = ControlServer(node.layout.root, app.state.autosync)  # `hameau travel sync`
        app.state.starts += [app.state.autosync.start, control.start]
        app.state.stops += [app.state.autosync.stop, control.stop]
    app.state.travel_proofs = Proofs()  # contents a satellite sent, until its paths are applied
