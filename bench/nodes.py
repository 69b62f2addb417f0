"""What the travel benchmarks share: home nodes and satellites made with the real CLI, served
as real processes, and a small client of the files API (upload, delete, walk with hashes)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from common import ROOT

from tests.e2e.served import Served, serve

PASSWORD = "correct horse"
HAMEAU = [sys.executable, "-m", "hameau"]
TAKE = "Voyage"  # the folder of "mine" the satellite takes


def hameau(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the hameau CLI to its end, its output captured."""
    done = subprocess.run(
        [*HAMEAU, *args], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )  # fmt: skip
    if check and done.returncode != 0:
        raise RuntimeError(
            f"hameau {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


def pack_command(url: str, satellite: Path) -> list[str]:
    return [*HAMEAU, "travel", "pack", "--from", url, "--member", "alex",
            "--take", f"files:mine/{TAKE}", "--data-dir", str(satellite), "--name", "laptop"]  # fmt: skip


def sync_command(satellite: Path) -> list[str]:
    return [*HAMEAU, "travel", "sync", "--data-dir", str(satellite)]


def pack_env() -> dict[str, str]:
    return {**os.environ, "HAMEAU_PASSWORD": PASSWORD, "COLUMNS": "200"}


def token(data: Path, label: str) -> str:
    """A new app password for alex on the node in ``data`` (the last line the CLI prints)."""
    return hameau(
        "token", "create", "alex", "--label", label, "--data-dir", str(data)
    ).stdout.split()[-1]


def make_home(data: Path, quota_mb: int) -> str:
    """A home node with the member alex; returns an app password of alex's."""
    hameau("init", "--name", "Maison", "--data-dir", str(data))
    subprocess.run(
        [*HAMEAU, "member", "add", "alex", "--password-stdin", "--quota-mb", str(quota_mb),
         "--data-dir", str(data)],
        input=PASSWORD + "\n", check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    return token(data, "bench")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def tree_hashes(root: Path) -> dict[str, str]:
    """Every file under ``root``: its path relative to root, its sha256."""
    found = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            found[path.relative_to(root).as_posix()] = file_sha(path)
    return found


class Api:
    """Alex's files through the node's JSON API, with an app password."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        # Idle connections are dropped well before the server's 5 s keep-alive ends, so a
        # request never goes out on a connection the server is closing.
        self.client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {secret}"}, timeout=300,
            limits=httpx.Limits(keepalive_expiry=1.0),
        )  # fmt: skip

    def close(self) -> None:
        self.client.close()

    @staticmethod
    def _at(path: str) -> str:
        return "/api/files/mine/" + urllib.parse.quote(path)

    def _check(self, response: httpx.Response, what: str) -> httpx.Response:
        if response.status_code >= 400:
            raise RuntimeError(
                f"{what} at {self.url}: {response.status_code} {response.text[:300]}"
            )
        return response

    def mkdir(self, path: str) -> None:
        answer = self.client.post("/api/files/folders", json={"space": "mine", "path": path})
        if answer.status_code != 409:  # already there
            self._check(answer, f"make folder {path}")

    def put(self, path: str, data: bytes) -> None:
        self._check(self.client.put(self._at(path), content=data), f"upload {path}")

    def delete(self, path: str) -> None:
        self._check(self.client.delete(self._at(path)), f"delete {path}")

    def move(self, path: str, to: str) -> None:
        answer = self.client.post(
            "/api/files/move",
            json={"space": "mine", "path": path, "to_space": "mine", "to_path": to},
        )
        self._check(answer, f"move {path} to {to}")

    def get(self, path: str) -> bytes:
        return self._check(self.client.get(self._at(path)), f"download {path}").content

    def entries(self, folder: str) -> list[dict[str, Any]]:
        listing = self._check(self.client.get(self._at(folder)), f"list {folder}").json()
        return list(listing["entries"])

    def walk(self, folder: str) -> tuple[list[str], list[str]]:
        """The folders and the files under ``folder`` (paths from the space's root)."""
        folders, found, pending = [], [], [folder]
        while pending:
            current = pending.pop()
            folders.append(current)
            for entry in self.entries(current):
                path = f"{current}/{entry['name']}"
                (pending if entry["folder"] else found).append(path)
        return folders, found

    def hashes(self, folder: str, threads: int = 4) -> dict[str, str]:
        """Every file under ``folder``, downloaded: its path, its sha256."""
        _folders, found = self.walk(folder)
        with ThreadPoolExecutor(threads) as pool:
            digests = pool.map(lambda path: sha(self.get(path)), found)
            return dict(zip(found, digests, strict=True))

    def upload_tree(self, root: Path, under: str, threads: int = 4) -> None:
        """The files of a local folder, as they are, under ``under`` (folders made first)."""
        uploads = []
        for folder, dirs, names in os.walk(root):
            relative = Path(folder).relative_to(root).as_posix()
            base = under if relative == "." else f"{under}/{relative}"
            self.mkdir(base)
            dirs.sort()
            uploads += [(f"{base}/{name}", Path(folder) / name) for name in sorted(names)]
        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(lambda item: self.put(item[0], item[1].read_bytes()), uploads):
                pass


class Local:
    """Alex's files of a node opened in this process (a satellite, which is not served: a
    served satellite syncs by itself), with the same methods as `Api`."""

    def __init__(self, data: Path) -> None:
        from hameau.config import Settings
        from hameau.node.datadir import open_node

        self.node = open_node(Settings(data_dir=data))

    def close(self) -> None:
        self.node.close()

    def _work(self, work: Any) -> Any:
        from hameau.accounts import members
        from hameau.files import service as files
        from hameau.node.db import retrying

        def run(session: Any) -> Any:
            member = members.find_member(session, "alex")
            return work(session, member, files.space(member, "mine"), files)

        return retrying(self.node.sessions, run)

    @staticmethod
    def _parts(path: str) -> list[str]:
        return [part for part in path.split("/") if part]

    def mkdir(self, path: str) -> None:
        from hameau.errors import Conflict

        def work(session: Any, member: Any, where: Any, files: Any) -> None:
            try:
                with session.begin_nested():
                    files.make_folder(session, member, where, self._parts(path))
            except Conflict:
                pass  # already there

        self._work(work)

    def put(self, path: str, data: bytes) -> None:
        digest = self.node.blobs.put(data)

        def work(session: Any, member: Any, where: Any, files: Any) -> None:
            plan = files.plan_write(session, member, where, self._parts(path), len(data))
            files.record_write(session, plan, member, digest, len(data), "", self.node.blobs)

        self._work(work)

    def delete(self, path: str) -> None:
        def work(session: Any, member: Any, where: Any, files: Any) -> None:
            files.trash(session, member, files.resolve(session, where, self._parts(path)))

        self._work(work)

    def move(self, path: str, to: str) -> None:
        def work(session: Any, member: Any, where: Any, files: Any) -> None:
            entry = files.resolve(session, where, self._parts(path))
            target = files.resolve(session, where, self._parts(to)[:-1])
            files.move(session, member, entry, target, self._parts(to)[-1])

        self._work(work)

    def hashes(self, folder: str) -> dict[str, str]:
        """Every file under ``folder``: its path, the sha256 of its blob file's bytes."""

        def work(session: Any, _member: Any, where: Any, files: Any) -> list[tuple[str, str]]:
            top = files.resolve(session, where, self._parts(folder))
            return [(path, entry.blob) for path, entry in files.files_below(session, top)]

        return {path: file_sha(self.node.blobs.path(blob)) for path, blob in self._work(work)}


@contextmanager
def opened(data: Path) -> Iterator[Local]:
    local = Local(data)
    try:
        yield local
    finally:
        local.close()


@contextmanager
def served(data: Path, secret: str) -> Iterator[tuple[Served, Api]]:
    """``hameau serve`` of the node in ``data`` (its log beside the data dir), and a client."""
    with serve(data) as running:
        api = Api(running.url, secret)
        try:
            yield running, api
        finally:
            api.close()


def blob_problems(data: Path) -> list[str]:
    """Blob files of the node in ``data`` whose content does not hash to their name."""
    return [
        str(path)
        for path in sorted((data / "blobs").glob("??/??/*"))
        if path.is_file() and file_sha(path) != path.name
    ]
