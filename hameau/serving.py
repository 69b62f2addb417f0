"""Serving the node: the start sweep, the app, the server (`hameau serve`). This assembles the
parts (files, travel, the app factory), so it lives above the domains; the server machinery
itself is in `hameau.node.serve`."""

from __future__ import annotations

from typing import Any

from hameau.node.serve import holding, listen_on, serve


def tidy(node: object) -> None:
    """Before serving: drop what writes cut short left behind (a crash, a kill -9) and move
    blobs nothing refers to into the quarantine (never deleted: if rows were lost, their
    content is still there). Done here, with no writer running, so nothing can race it."""
    from hameau.files.retention import collect_garbage
    from hameau.node.datadir import Node
    from hameau.node.db import transaction

    assert isinstance(node, Node)
    if (node.layout.root / "satellite.json").exists():
        from hameau.travel.lock import sync_running

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


def _certificate(node: Any) -> tuple[str, str] | None:
    """The certificate and key files to serve HTTPS with, or None for plain HTTP; a file
    that cannot be used is one line and an exit code."""
    from hameau.node import tls  # stdlib only; cryptography is imported when TLS is on

    if not tls.enabled(node.settings):
        return None
    try:
        files = tls.for_serving(node.settings, node.name)
    except tls.TlsError as error:
        raise SystemExit(str(error)) from None
    return str(files.cert), str(files.key)


def run(node: Any) -> None:
    """Serve an opened node until a signal stops it."""
    settings = node.settings
    listener = listen_on(settings.host, settings.port)
    certificate = _certificate(node)
    with holding(node.layout.root, exclusive=False) as taken:  # a `move-store` waits for none
        if not taken:
            raise SystemExit("A `hameau move-store` is running on this data dir; wait for it.")
        _serve(node, listener, certificate)


def _serve(node: Any, listener: Any, certificate: tuple[str, str] | None) -> None:
    from hameau.app import create_app
    from hameau.node import once, reserve

    settings = node.settings
    serving = once.Serving(node)  # on PostgreSQL: sweep only when no other process serves
    if serving.start():
        tidy(node)
    else:  # others serve: only what a killed process's purges left aside (files.purge)
        from hameau.files.purge import put_back_cut_short

        put_back_cut_short(node)
    serving.swept()
    reserve.keep(node.layout.root)  # so a full disk can still be freed (node.reserve)
    app = create_app(node)
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    base = f"{'https' if certificate else 'http'}://{shown}:{settings.port}"
    print(f"hameau node {node.name} on {base}", flush=True)
    if app.state.setup_code:
        print(
            f"No member yet: open {base}/setup to create the first admin. From another"
            f" machine, give the setup code {app.state.setup_code}.",
            flush=True,
        )
    serve(
        app,
        listener,
        header_timeout=settings.header_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
        max_connections=settings.max_connections,
        certificate=certificate,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


OPTIONS = ("--data-dir", "--host", "--port", "--cert", "--key")
FLAGS = ("--tls",)  # options without a value


def plain_options(args: list[str]) -> dict[str, str] | None:
    """`hameau serve`'s options when given plainly (`--name value` or `--name=value`, each
    once); None for anything else (--help, a typo), which the full command line handles."""
    found: dict[str, str] = {}
    rest = list(args)
    while rest:
        name, equals, value = rest.pop(0).partition("=")
        if name in FLAGS and not equals and name not in found:
            found[name] = "true"
            continue
        if name not in OPTIONS or name in found:
            return None
        if not equals:
            if not rest:
                return None
            value = rest.pop(0)
        found[name] = value
    return found


def command_line(args: list[str]) -> bool:
    """`hameau serve ARGS` without the command line's libraries (Typer, Rich): Python starts
    once, and the server keeps only what it needs in memory. False when the full command
    line must handle ARGS (help, a mistake, a node that cannot be opened), so that its
    messages and exit codes stay the only ones."""
    options = plain_options(args)
    if options is None:
        return False
    from hameau.config import load_settings
    from hameau.node.datadir import open_node

    try:
        settings = load_settings(options.get("--data-dir")).with_overrides(
            host=options.get("--host"), port=options.get("--port"), tls=options.get("--tls"),
            tls_cert=options.get("--cert"), tls_key=options.get("--key"),
        )  # fmt: skip
        node = open_node(settings)
    except Exception:  # said again, in words and with its exit code, by the full command line
        return False
    run(node)
    return True
