"""Backups at a neighbour's, the peer's side, with the real restic (0.14) against two served
nodes: B offers A space; A opens B as its target (the loopback proxy signing restic's
requests) and runs restic's init, backup, snapshots, restore and check --read-data. Then what
a peer must refuse (unsigned, forged, replayed, unpaired, no offer, a name that is not its
content's hash, names out of the repository, past the quota, a full disk), that B never sees
the household's plaintext, and a SIGKILL of B in the middle of an upload."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hameau.backup.peer_target import PeerTarget, space_at
from hameau.config import Settings
from hameau.node.datadir import Node, open_node
from tests.e2e.hamlet_nodes import Home, hamlet

RESTIC = shutil.which("restic")
pytestmark = pytest.mark.skipif(RESTIC is None, reason="not run: restic is not installed")

PIE = "La tarte aux pommes de Mamie : six pommes reinettes, du beurre salé, un peu de cannelle."
PREFIX = "/api/hamlet/backup"


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Home]]:
    with hamlet(tmp_path_factory.mktemp("backup"), names=("A", "B"), pairs=(("B", "A"),)) as found:
        offered = found["B"].run("backup", "offer", "A", "--quota", "1G")
        assert offered.returncode == 0, offered.stderr
        yield found


@pytest.fixture(scope="module")
def node_a(homes: dict[str, Home]) -> Iterator[Node]:
    node = open_node(Settings(data_dir=homes["A"].data_dir), upgrade=False)
    yield node
    node.close()


@pytest.fixture(scope="module")
def restic_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    where = tmp_path_factory.mktemp("restic")
    (where / "password").write_text("the household's own key\n")
    return {
        **os.environ,
        "RESTIC_PASSWORD_FILE": str(where / "password"),
        "RESTIC_CACHE_DIR": str(where / "cache"),
    }


def restic(url: str, env: dict[str, str], *args: str, timeout: float = 300):
    return subprocess.run(
        [RESTIC or "restic", "-r", url, *args], env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def household(folder: Path, random_mib: int = 8) -> Path:
    """A folder of the household's: recipes in plain words, and some incompressible bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(6):
        (folder / f"recette-{number}.txt").write_text(f"{PIE} ({number})\n" * (200 * (number + 1)))
    (folder / "photos.bin").write_bytes(os.urandom(random_mib << 20))
    return folder


def tree(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def stored(b: Home, a: Home) -> Path:
    return b.data_dir / "backups" / a.node_id


def leftovers(repository: Path) -> list[Path]:
    """Temp files of writes that did not finish."""
    return [p for p in repository.rglob("*") if p.is_file() and p.parent.name == "tmp"]


def signed(by: Home, to: Home) -> httpx.Client:
    """A client signing as `by` toward `to` (the library a node uses, without its proxy)."""
    from hameau.hamlet.signer import Signer

    signer = Signer(by.node_id, by.key(), to.node_id)
    return httpx.Client(base_url=to.url, verify=to.verify, auth=signer, timeout=30)


def test_a_household_backs_up_restores_and_checks_at_its_neighbour(
    homes: dict[str, Home], node_a: Node, restic_env: dict[str, str], tmp_path: Path
) -> None:
    a, b = homes["A"], homes["B"]
    source = household(tmp_path / "maison")
    with PeerTarget(node_a, "B").open() as repository:
        assert repository.url.startswith("rest:http://restic:")
        assert "@127.0.0.1:" in repository.url
        for step in (("init",), ("backup", str(source)), ("snapshots", "--json")):
            done = restic(repository.url, restic_env, *step)
            assert done.returncode == 0, (step, done.stderr)
        assert str(source) in done.stdout
        out = tmp_path / "restored"
        done = restic(repository.url, restic_env, "restore", "latest", "--target", str(out))
        assert done.returncode == 0, done.stderr
        assert tree(out / str(source).lstrip("/")) == tree(source)
        done = restic(repository.url, restic_env, "check", "--read-data")
        assert done.returncode == 0, done.stderr
        assert "no errors were found" in done.stdout
    # B holds A's repository, encrypted: none of the household's words, in any file.
    repository_b = stored(b, a)
    assert (repository_b / "config").is_file()
    words = [PIE.encode(), b"tarte aux pommes", b"Mamie", b"recette-"]
    for path in repository_b.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(word in content for word in words), path
    space = space_at(node_a, "B")  # what A's admin page can say of its room at B
    assert space.quota == 1 << 30 and not space.withdrawn
    assert space.used == sum(p.stat().st_size for p in repository_b.rglob("*") if p.is_file())
    listed = b.run("backup", "offers")
    assert listed.returncode == 0 and "A" in listed.stdout and "1.0 GiB" in listed.stdout
    assert "never" not in listed.stdout  # a snapshot was received


def test_the_proxy_answers_only_with_its_secret(node_a: Node) -> None:
    with PeerTarget(node_a, "B").open() as repository:
        address = repository.url.removeprefix("rest:")
        secret = address.split("@")[0].split(":")[-1]
        port_url = "http://127.0.0.1:" + address.rsplit(":", 1)[1]
        assert httpx.head(port_url + "config").status_code == 401
        assert httpx.head(port_url + "config", auth=("restic", "guess")).status_code == 401
        assert httpx.head(port_url + "config", auth=("restic", secret)).status_code == 200
    with pytest.raises(httpx.ConnectError):  # closed with its context
        httpx.head(port_url + "config", auth=("restic", secret))


@pytest.mark.skipif(
    os.getuid() != 0 or not shutil.which("setpriv"),
    reason="not run: needs root and setpriv to act as another user",
)
def test_another_user_of_the_machine_cannot_use_the_proxy_even_with_its_secret(
    node_a: Node,
) -> None:
    with PeerTarget(node_a, "B").open() as repository:
        assert repository.env["RESTIC_REPOSITORY"] == repository.url
        address = repository.url.removeprefix("rest:") + "config"
        asked = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-I", address]
        mine = subprocess.run(asked, capture_output=True, text=True, timeout=60)
        assert mine.stdout == "200"
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *asked]
        theirs = subprocess.run(nobody, capture_output=True, text=True, timeout=60)
        assert theirs.stdout == "403"


def test_unsigned_forged_replayed_and_unpaired_requests_are_refused(
    homes: dict[str, Home],
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from hameau.hamlet.signer import Signer
    from hameau.hamlet.signing import node_id_of

    a, b = homes["A"], homes["B"]
    plain = httpx.Client(base_url=b.url, verify=b.verify, timeout=30)
    assert plain.get(PREFIX + "/keys/").status_code == 401
    stranger = Ed25519PrivateKey.generate()
    stranger_id = node_id_of(stranger.public_key().public_bytes_raw())
    with httpx.Client(
        base_url=b.url, verify=b.verify, auth=Signer(stranger_id, stranger, b.node_id)
    ) as client:
        assert client.get(PREFIX + "/keys/").status_code == 401
    with signed(a, b) as client:
        request = client.build_request("GET", PREFIX + "/keys/")
        first = next(client.auth.auth_flow(request))  # type: ignore[union-attr]
    answer = plain.send(first)
    assert answer.status_code == 200
    assert plain.send(first).status_code == 401  # the same signed request, replayed
    forged = client.build_request("GET", PREFIX + "/keys/")
    forged = next(Signer(a.node_id, b.key(), b.node_id).auth_flow(forged))  # B's key, A's id
    assert plain.send(forged).status_code == 401


def test_a_peer_without_an_offer_is_refused(homes: dict[str, Home]) -> None:
    a, b = homes["A"], homes["B"]
    with signed(b, a) as client:  # A offers B nothing
        answer = client.head(PREFIX + "/config", headers={"Accept-Language": "en"})
        assert answer.status_code == 403
        answer = client.post(PREFIX + "/?create=true", headers={"Accept-Language": "en"})
        assert answer.status_code == 403
        assert "offers no backup space" in answer.json()["error"]
        assert client.get(PREFIX + "/space").status_code == 403
    assert not (a.data_dir / "backups").exists()


def test_names_must_be_the_hash_of_the_content_and_stay_in_the_repository(
    homes: dict[str, Home],
) -> None:
    a, b = homes["A"], homes["B"]
    body = b"not what its name says" * 100
    wrong = hashlib.sha256(b"something else").hexdigest()
    right = hashlib.sha256(body).hexdigest()
    repository = stored(b, a)
    with signed(a, b) as client:
        assert client.post(PREFIX + "/?create=true").status_code == 200  # there already: kept
        english = {"Accept-Language": "en"}
        answer = client.post(f"{PREFIX}/data/{wrong}", content=body, headers=english)
        assert answer.status_code == 400
        assert "not the SHA-256 of its content" in answer.json()["error"]
        assert client.head(f"{PREFIX}/data/{wrong}").status_code == 404
        assert not list(repository.rglob(wrong)) and not leftovers(repository)
        for path in (
            "/data/..%2F..%2Fconfig", "/tmp/" + right, "/../" + right, "/data/" + right[:63],
            "/data/" + right.upper(), "/config/" + right, "/..%2Fkeys/" + right,
        ):  # fmt: skip
            answer = client.post(PREFIX + path, content=body)
            assert 400 <= answer.status_code < 500, (path, answer.status_code)
            assert client.get(PREFIX + path).status_code in (400, 404, 405), path
        assert not list(b.data_dir.rglob(right))
        assert client.post(f"{PREFIX}/data/{right}", content=body).status_code == 200
        listed = client.get(
            PREFIX + "/data/", headers={"Accept": "application/vnd.x.restic.rest.v2"}
        )
        assert listed.headers["content-type"] == "application/vnd.x.restic.rest.v2"
        assert {"name": right, "size": len(body)} in listed.json()
        assert right in client.get(PREFIX + "/data/").json()  # v1: the names
        part = client.get(f"{PREFIX}/data/{right}", headers={"Range": "bytes=10-19"})
        assert part.status_code == 206 and part.content == body[10:20]
        assert client.delete(f"{PREFIX}/data/{right}").status_code == 200
        assert client.delete(f"{PREFIX}/data/{right}").status_code == 404


def test_past_the_quota_restic_fails_cleanly_and_nothing_partial_is_kept(
    homes: dict[str, Home], node_a: Node, restic_env: dict[str, str], tmp_path: Path
) -> None:
    a, b = homes["A"], homes["B"]
    repository = stored(b, a)
    used = sum(p.stat().st_size for p in repository.rglob("*") if p.is_file())
    quota = used + (2 << 20)
    assert b.run("backup", "offer", "A", "--quota", str(quota)).returncode == 0
    try:
        with PeerTarget(node_a, "B").open() as target:
            done = restic(target.url, restic_env, "backup", str(household(tmp_path / "more", 12)))
            assert done.returncode != 0
            assert "507" in done.stderr
            after = sum(p.stat().st_size for p in repository.rglob("*") if p.is_file())
            assert after <= quota and not leftovers(repository)
    finally:
        assert b.run("backup", "offer", "A", "--quota", "1G").returncode == 0
    with PeerTarget(node_a, "B").open() as target:
        done = restic(target.url, restic_env, "check")
        assert done.returncode == 0, done.stderr


def test_a_withdrawn_offer_takes_no_more_but_keeps_what_it_has(homes: dict[str, Home]) -> None:
    a, b = homes["A"], homes["B"]
    body = os.urandom(1000)
    name = hashlib.sha256(body).hexdigest()
    withdrawn = b.run("backup", "withdraw", "A")
    assert withdrawn.returncode == 0 and "--delete-data" in withdrawn.stdout
    try:
        with signed(a, b) as client:
            assert client.post(f"{PREFIX}/data/{name}", content=body).status_code == 403
            assert client.get(PREFIX + "/snapshots/").status_code == 200  # still restorable
            assert client.post(f"{PREFIX}/locks/{name}", content=body).status_code == 200
            assert client.delete(f"{PREFIX}/locks/{name}").status_code == 200
            assert client.get(PREFIX + "/space").json()["withdrawn"] is True
    finally:
        assert b.run("backup", "offer", "A", "--quota", "1G").returncode == 0
    assert stored(b, a).is_dir()


def test_a_full_disk_at_the_peer_fails_the_backup_cleanly(
    homes: dict[str, Home], restic_env: dict[str, str], tmp_path: Path
) -> None:
    """The other way round: A offers B room on a small disk (a 24 MiB tmpfs), B's backup
    fills it. Mounting needs root: elsewhere, not run."""
    a, b = homes["A"], homes["B"]
    disk = a.data_dir / "backups"
    disk.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("not run: mounting a small tmpfs as a full disk needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24M,mode=0700", "tmpfs", str(disk)],
        capture_output=True, text=True,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"not run: a tmpfs cannot be mounted here ({mounted.stderr.strip()})")
    node_b = open_node(Settings(data_dir=b.data_dir), upgrade=False)
    try:
        assert a.run("backup", "offer", "B", "--quota", "1G").returncode == 0
        with PeerTarget(node_b, "A").open() as target:
            assert restic(target.url, restic_env, "init").returncode == 0
            source = household(tmp_path / "b-house", 40)
            done = restic(target.url, restic_env, "backup", "--pack-size", "4", str(source))
            assert done.returncode != 0 and "507" in done.stderr
            assert not leftovers(disk / b.node_id)  # nothing partial on the full disk
            done = restic(target.url, restic_env, "snapshots")  # A still serves it
            assert done.returncode == 0, done.stderr
    finally:
        node_b.close()
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_peer_killed_mid_upload_keeps_a_consistent_repository(
    homes: dict[str, Home], node_a: Node, restic_env: dict[str, str], tmp_path: Path
) -> None:
    a, b = homes["A"], homes["B"]
    data = stored(b, a) / "data"
    before = len([p for p in data.rglob("*") if p.parent.name != "tmp" and p.is_file()])
    source = household(tmp_path / "big", 48)
    with PeerTarget(node_a, "B").open() as target:
        running = subprocess.Popen(
            [RESTIC or "restic", "-r", target.url, "backup", "--pack-size", "4", str(source)],
            env=restic_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                packs = [p for p in data.rglob("*") if p.parent.name != "tmp" and p.is_file()]
                if len(packs) >= before + 2:
                    break
                time.sleep(0.05)
            b.served.process.kill()  # SIGKILL, in the middle of the uploads
            b.served.process.wait()
        finally:
            running.kill()
            running.wait()
    b.restart()
    with PeerTarget(node_a, "B").open() as target:
        # restic 0.14 takes no exclusive lock beside any other: the stale one of the restic
        # stopped above (its process is gone) is removed first, as the backup does.
        done = restic(target.url, restic_env, "unlock")
        assert done.returncode == 0, done.stderr
        done = restic(target.url, restic_env, "check")
        assert done.returncode == 0, done.stderr
        assert not leftovers(stored(b, a))  # a write cut short left nothing behind
        done = restic(target.url, restic_env, "backup", str(source))
        assert done.returncode == 0, done.stderr
        done = restic(target.url, restic_env, "check", "--read-data")
        assert done.returncode == 0, done.stderr


def test_an_object_past_the_largest_pack_is_refused_before_it_is_read(
    homes: dict[str, Home],
) -> None:
    import socket
    from urllib.parse import urlsplit

    b = homes["B"]
    where = urlsplit(b.url)
    asked = (
        f"POST {PREFIX}/data/{'0' * 64} HTTP/1.1\r\nHost: {where.netloc}\r\n"
        f"Accept-Language: en\r\nContent-Length: {145 << 20}\r\n\r\n"
    )  # the body is announced, never sent: the answer comes first
    with socket.create_connection((where.hostname, where.port), timeout=30) as raw:
        context = b.verify
        assert not isinstance(context, bool)
        with context.wrap_socket(raw, server_hostname=where.hostname) as tls:
            tls.sendall(asked.encode())
            answer = ""
            while "}" not in answer and (chunk := tls.recv(65536)):
                answer += chunk.decode("latin-1")
    assert answer.startswith("HTTP/1.1 413")
    assert "too large" in answer
