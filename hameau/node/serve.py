"""Serving the node with uvicorn, quiet when idle and with no secret in its logs."""

from __future__ import annotations

import asyncio
import logging
import re
from types import FrameType

import uvicorn

# Query parameters that carry credentials; their values never reach a log.
_SECRET_PARAMS = re.compile(r"(?i)([?&](?:device|code|csrf_token|token|password)=)[^&\s\"]*")


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SECRET_PARAMS.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


class QuietServer(uvicorn.Server):
    """uvicorn wakes every 0.1 s to refresh its Date header and check for exit; this server
    sleeps until a signal asks it to stop (the Date header is written per response instead)."""

    _stop: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self.on_tick(0)
        if not self.should_exit:
            await self._stop.wait()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)


def serve(app: object, host: str, port: int) -> None:
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        lifespan="on",  # a satellite starts its automatic sync there (see web.app.lifespan)
        date_header=False,
        server_header=False,
        proxy_headers=False,
        log_level="info",
    )
    logging.getLogger("uvicorn.access").addFilter(RedactSecrets())
    QuietServer(config).run()


def tidy(node: object) -> None:
    """Before serving: drop what writes cut short left behind (a crash, a kill -9) and move
    blobs nothing refers to into the quarantine (never deleted: if rows were lost, their
    content is still there). Done here, with no writer running, so nothing can race it."""
    from hameau.files.service import collect_garbage
    from hameau.node.datadir import Node
    from hameau.node.db import transaction

    assert isinstance(node, Node)
    if (node.layout.root / "satellite.json").exists():
        from hameau.travel.sync import sync_running

        if sync_running(node.layout.root):  # its downloads are in progress: leave them be
            print("A travel sync is running; leftovers are swept at the next start.", flush=True)
            return
    partial = node.blobs.clear_temp()
    with transaction(node.sessions) as session:
        unused = collect_garbage(session, node.blobs)  # moved aside, never deleted
    if partial or unused:
        print(
            f"Removed {partial} partial upload(s); moved {unused} file content(s) no file"
            " refers to into the quarantine (kept 30 days; see `hameau check`).",
            flush=True,
        )


def main(argv: list[str]) -> None:
    """Entry point of the server process (`hameau serve` replaces itself with it, so the
    command line's own libraries do not stay in the server's memory)."""
    from hameau.config import load_settings
    from hameau.node import reserve
    from hameau.node.datadir import open_node
    from hameau.web.app import create_app

    data_dir, host, port = argv
    settings = load_settings(data_dir).with_overrides(host=host, port=int(port))
    node = open_node(settings)
    tidy(node)
    reserve.keep(node.layout.root)  # so a full disk can still be freed (node.reserve)
    app = create_app(node)
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    base = f"http://{shown}:{settings.port}"
    print(f"hameau node {node.name} on {base}", flush=True)
    if app.state.setup_code:
        print(
            f"No member yet: open {base}/setup to create the first admin. From another"
            f" machine, give the setup code {app.state.setup_code}.",
            flush=True,
        )
    serve(app, settings.host, settings.port)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
