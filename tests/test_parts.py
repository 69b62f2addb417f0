"""The registry of parts (hameau/parts.py) is what the app, the command line and the
migrations are made of."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hameau import parts
from hameau.app import create_app
from hameau.cli import _command
from hameau.node.datadir import Node


def test_the_home_and_the_navigation_follow_the_registry(node: Node) -> None:
    app = create_app(node)
    names = [app_info.name for app_info in app.state.apps]
    assert names == [part.name for part in parts.PARTS if part.app]
    assert names[:3] == ["files", "calendar", "notes"] and names[-1] == "accounts"


def test_the_registry_says_each_commands_own_help() -> None:
    """`hameau --help` shows the registry's words without importing the commands; they must
    be the commands' own."""
    for entry in parts.commands():
        command = _command(entry)
        own = " ".join((command.help or "").split("\n\n")[0].split())
        assert entry.help == own, entry.name


# The command line as `python -m hameau` runs it, writing the names of the modules it
# loaded to a file at exit (whatever its exit code).
RUN = (
    "import atexit, sys; out = sys.argv.pop(); atexit.register(lambda: open(out, 'w').write("
    "'\\n'.join(sys.modules))); from hameau.__main__ import main; sys.exit(main())"
)


def _imported(
    tmp_path: Path, *args: str, kinds: tuple[str, ...] = ("hameau", "fastapi", "starlette")
) -> set[str]:
    """The hameau, web and server modules (or other `kinds`) a real `hameau ARGS` run loaded."""
    listing = tmp_path / "modules.txt"
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args, str(listing)],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    names = set(listing.read_text().splitlines())
    return {name for name in names if name.startswith(kinds)}


def test_the_command_list_imports_no_command(tmp_path: Path) -> None:
    assert _imported(tmp_path, "--help") <= {
        "hameau",
        "hameau.__main__",
        "hameau.cli",
        "hameau.parts",
    }


def test_a_short_command_imports_only_its_part(tmp_path: Path) -> None:
    root = tmp_path / "node"
    subprocess.run([sys.executable, "-m", "hameau", "init", "--name", "N", "--data-dir", root],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    imported = _imported(tmp_path, "member", "list", "--data-dir", str(root))
    assert "hameau.accounts.cli" in imported
    others = ("hameau.travel", "hameau.ai", "hameau.files", "hameau.web", "fastapi", "starlette")
    assert sorted(name for name in imported if name.startswith(others)) == []


def test_short_commands_load_neither_typer_nor_pydantic(tmp_path: Path) -> None:
    """Typer builds each option's converter with pydantic, some 0.1 s of a short command's
    start; the commands that run often are plain click."""
    root = tmp_path / "node"
    subprocess.run([sys.executable, "-m", "hameau", "init", "--name", "N", "--data-dir", root],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    where = ["--data-dir", str(root)]
    for command in (["member", "list", *where], ["device", "list", *where], ["--help"]):
        assert _imported(tmp_path, *command, kinds=("typer", "pydantic")) == set(), command


def test_every_reference_in_the_registry_resolves() -> None:
    """A typo in a "module:attribute" would otherwise show only when that piece is first used
    (a mount on its first request, a command when run)."""
    for part in parts.PARTS:
        references = [part.app, part.state, *part.routers_at_start, *part.routers]
        references += [factory for _, factory in part.mounts]
        references += [*part.models, *(command.target for command in part.commands)]
        for reference in filter(None, references):
            assert parts.load(reference) is not None, (part.name, reference)
    for command in parts.COMMANDS:
        assert callable(parts.load(command.target)), command.name


def test_the_listings_load_no_sqlalchemy_and_no_models(tmp_path: Path) -> None:
    """SQLAlchemy (and more its ORM and the declarative models) cost more than a listing's
    whole work: `member list`, `token list`, `device list` and `travel status` read in plain
    SQL on sqlite3 (accounts/tables.py, files/tables.py); status asks home only for the files
    taken."""
    root = tmp_path / "node"
    subprocess.run([sys.executable, "-m", "hameau", "init", "--name", "N", "--data-dir", root],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    where = ["--data-dir", str(root)]
    subprocess.run([sys.executable, "-m", "hameau", "member", "add", "alex", "--password-stdin",
                    *where], input=b"a good password\n", check=True, capture_output=True,
                   timeout=120)  # fmt: skip
    (root / "satellite.json").write_text(
        '{"home": "http://127.0.0.1:9", "member": "alex", "device_name": "portable",'
        ' "token": "not-a-real-token", "home_replica": "home", "takes": ["notes"]}'
    )
    (root / "satellite.json").chmod(0o600)
    kinds = ("sqlalchemy", "httpx", "hameau")
    for command in (["member", "list"], ["token", "list", "alex"], ["device", "list"],
                    ["travel", "status"]):  # fmt: skip
        loaded = _imported(tmp_path, *command, *where, kinds=kinds)
        assert "hameau.accounts.tables" in loaded
        heavy = [n for n in loaded if n.startswith(kinds[:2]) or "models" in n]
        assert sorted(heavy) == [], command


def test_a_part_loaded_on_first_use_declares_every_path_it_serves() -> None:
    """A route outside its part's `paths` would answer 404 until something else loaded the
    part: each part's routes lie under the paths the registry declares for it."""
    from hameau.app import PartRoutes

    def paths(routes: list) -> list[str]:  # type: ignore[type-arg]
        found = []
        for route in routes:
            if hasattr(route, "original_router"):
                found += paths(route.original_router.routes)
            else:
                found.append(route.path)
        return found

    lazy = [part for part in parts.PARTS if part.paths is not None]
    assert lazy and all(part.paths for part in lazy)
    for part in lazy:
        waiting = PartRoutes(part)
        for reference in part.routers:
            outside = [p for p in paths(parts.load(reference).routes) if not waiting.serves(p)]
            assert outside == [], (part.name, reference)


def test_the_routes_keep_the_registrys_order_whatever_part_is_used_first(node: Node) -> None:
    """Which route answers a path must not depend on the order people opened the pages."""
    from hameau.app import load_parts

    def order(first: list[str]) -> list[str]:  # the routes once every part is loaded
        app = create_app(node)
        for path in first:
            load_parts(app, path)
        routes = load_parts(app).routes
        # A router is the same object in every app (its module is imported once); a mount, its path.
        return [
            str(id(route.original_router)) if hasattr(route, "original_router") else route.path
            for route in routes
        ]

    assert order([]) == order(["/hamlet/ai", "/notes", "/files/mine/"]) == order(["/v1/models"])
