"""Many small files through WebDAV: 2 KB PUTs, 8 at once, beside Apache's mod_dav in one run.

A node is served by `hameau serve` from a folder of the repository; Debian's `apache2` with
`mod_dav_fs` is started beside it on a loopback port with its own configuration in a temp
folder on the same disk. The same client (8 threads, one kept-alive connection each) PUTs
new 2,048-byte files of random bytes into a folder of each, in rounds that alternate between
the two servers; the figure is files per second, the median of the rounds. The node
acknowledges a PUT only once its content and its row are durable (they survive a power
cut); mod_dav_fs writes the file and answers, leaving the disk to flush it later.

With `--client rclone`, each round is `rclone copy` of a folder of such files with 8
transfers at once, as a household would send a photo archive. With `--compare PATH`, a
second node served from another checkout (its own code: an earlier commit) takes its rounds
too, between the same Apache rounds: a before/after under the same load.

Prints one JSON line.   .venv/bin/python bench/small_files.py [--files 400] [--rounds 3]
                                         [--client http|rclone] [--compare ../other-checkout]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from common import ROOT, process, read_process

from hameau.accounts import members, tokens
from hameau.node.db import transaction
from tests.e2e.served import free_port
from tests.helpers import add_member, make_node

SIZE = 2048
AT_ONCE = 8
MODULES = "/usr/lib/apache2/modules"
APACHE_CONF = """ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/apache.pid"
ErrorLog "{root}/error.log"
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule dav_module {modules}/mod_dav.so
LoadModule dav_fs_module {modules}/mod_dav_fs.so
{user}
DAVLockDB "{root}/DAVLock"
DocumentRoot "{root}/files"
<Directory "{root}/files">
    Dav On
    Require all granted
</Directory>
"""


def put_many(url: str, prefix: str, count: int, headers: dict[str, str]) -> float:
    """PUT ``count`` new small files from AT_ONCE threads; returns the seconds it took."""
    parts = urlsplit(url)
    numbers = iter(range(count))
    lock = threading.Lock()
    failures: list[str] = []

    def work() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                break
            connection.request("PUT", f"{parts.path}/{prefix}-{number}.bin",
                               body=os.urandom(SIZE), headers=headers)  # fmt: skip
            answer = connection.getresponse()
            answer.read()
            if answer.status not in (201, 204):
                failures.append(f"{answer.status} {answer.reason}")
        connection.close()

    threads = [threading.Thread(target=work) for _ in range(AT_ONCE)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} PUTs failed, first: {failures[0]}")
    return time.perf_counter() - started


@contextmanager
def apache(work: Path) -> Iterator[str | None]:
    """mod_dav_fs on a free loopback port, or None if apache2 is not installed."""
    binary = shutil.which("apache2") or "/usr/sbin/apache2"
    if not Path(binary).exists() or not Path(MODULES, "mod_dav_fs.so").exists():
        yield None
        return
    root = work / "apache"
    (root / "files" / "small").mkdir(parents=True)
    port = free_port()
    user = ""
    if os.geteuid() == 0:  # apache2 drops root for an unprivileged user: let it write here
        user = "User www-data\nGroup www-data"
        shutil.chown(root, "www-data", "www-data")
        for folder in (root / "files", root / "files" / "small"):
            shutil.chown(folder, "www-data", "www-data")
    conf = root / "apache.conf"
    conf.write_text(APACHE_CONF.format(root=root, port=port, modules=MODULES, user=user))
    child = subprocess.Popen([binary, "-f", str(conf), "-DFOREGROUND"], stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/small"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with http_connection(port) as probe:
                    probe.request("OPTIONS", "/small/")
                    probe.getresponse().read()
                break
            except OSError:
                if child.poll() is not None or time.monotonic() > deadline:
                    output = child.stderr.read()  # type: ignore[union-attr]
                    raise RuntimeError(f"apache2 did not start: {output!r}") from None
                time.sleep(0.1)
        yield url
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=20)


@contextmanager
def http_connection(port: int) -> Iterator[http.client.HTTPConnection]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        yield connection
    finally:
        connection.close()


def served_node(running: ExitStack, work: Path, tree: Path | None) -> tuple[str, str, int]:
    """A node with a member, served from this checkout or from ``tree`` (its own code):
    its WebDAV address, the member's app password and the server's process id."""
    work.mkdir()
    data, secret = node_with_member(work)
    command = [sys.executable, "-m", "hameau", "serve", "--data-dir", str(data)]
    env = None if tree is None else {**os.environ, "PYTHONPATH": str(tree.resolve())}
    served = running.enter_context(process(command, env=env, cwd=tree))
    return f"{served.url}/dav/files", secret, served.pid


def node_with_member(work: Path) -> tuple[Path, str]:
    data = work / "node"
    node = make_node(data)
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "bench")[1]
    node.close()
    return data, secret


def rclone_rate(source: Path, url: str, user: str, secret: str, target: str) -> float:
    """Files per second for `rclone copy` of a folder of small files, 8 transfers at once."""
    remote = ["--webdav-url", url, "--config", "/dev/null", "--no-check-dest",
              "--transfers", str(AT_ONCE), "--checkers", str(AT_ONCE)]  # fmt: skip
    if user:
        obscured = subprocess.run(["rclone", "obscure", secret], capture_output=True, text=True,
                                  check=True).stdout.strip()  # fmt: skip
        remote += ["--webdav-user", user, "--webdav-pass", obscured]
    started = time.perf_counter()
    subprocess.run(["rclone", "copy", str(source), f":webdav:{target}", *remote], check=True,
                   capture_output=True)  # fmt: skip
    return len(list(source.iterdir())) / (time.perf_counter() - started)


def node_round(options: argparse.Namespace, source: Path, node: tuple[str, str, int],
               round_: int, runs: dict[str, list[float]], key: str) -> None:  # fmt: skip
    """One round on a served node: files per second, and its CPU per file (ms, /proc)."""
    url, secret, pid = node
    auth = base64.b64encode(f"alex:{secret}".encode()).decode()
    mine = {"Authorization": f"Basic {auth}", "Content-Type": "application/octet-stream"}
    cpu = read_process(pid).cpu_seconds
    if options.client == "rclone":
        runs[key].append(rclone_rate(source, url, "alex", secret, f"mine/r{round_}"))
    else:
        seconds = put_many(f"{url}/mine", f"r{round_}", options.files, mine)
        runs[key].append(options.files / seconds)
    runs[f"{key}_cpu_ms"].append((read_process(pid).cpu_seconds - cpu) * 1000 / options.files)


def measure(options: argparse.Namespace, work: Path, nodes: dict[str, tuple[str, str, int]],
            theirs: str | None) -> dict[str, list[float]]:  # fmt: skip
    """Rounds alternating between the node(s) and Apache; files per second of each round,
    and each node's CPU per file (ms, from /proc) in each of its rounds."""
    source = work / "source"
    source.mkdir()
    for number in range(options.files):
        (source / f"photo-{number:05}.jpg").write_bytes(os.urandom(SIZE))
    runs: dict[str, list[float]] = {"apache": []}
    for key in nodes:
        runs[key], runs[f"{key}_cpu_ms"] = [], []
    for round_ in range(options.rounds):
        for key, node in nodes.items():
            node_round(options, source, node, round_, runs, key)
        if theirs is None:
            continue
        if options.client == "rclone":
            base, _, folder = theirs.rpartition("/")
            runs["apache"].append(rclone_rate(source, base, "", "", f"{folder}/r{round_}"))
        else:
            runs["apache"].append(options.files / put_many(theirs, f"r{round_}", options.files, {}))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=400, help="files per round and server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--client", choices=("http", "rclone"), default="http",
                        help="http: 8 kept-alive connections; rclone: `rclone copy --transfers 8`")  # fmt: skip
    parser.add_argument("--compare", type=Path, default=None,
                        help="another checkout whose node takes its rounds too (before/after)")  # fmt: skip
    options = parser.parse_args()
    result: dict[str, object] = {"bench": "small_files", "client": options.client, "size_bytes": SIZE,
                                 "at_once": AT_ONCE, "files_per_round": options.files,
                                 "rounds": options.rounds}  # fmt: skip
    with tempfile.TemporaryDirectory(dir=str(ROOT)) as folder:
        work = Path(folder)
        # apache2's www-data must reach its folder here (the node's own data dir stays 0700)
        os.chmod(work, 0o755)  # noqa: S103
        with ExitStack() as running:
            nodes = {"hameau": served_node(running, work / "this", None)}
            if options.compare is not None:
                nodes["compared"] = served_node(running, work / "compared", options.compare)
                result["compared_tree"] = str(options.compare.resolve())
            theirs = running.enter_context(apache(work))
            runs = measure(options, work, nodes, theirs)
    ours = statistics.median(runs["hameau"])
    result["hameau_files_per_s"] = round(ours, 1)
    result["hameau_ms_per_file"] = round(1000 / ours, 1)
    result["hameau_cpu_ms_per_file"] = round(statistics.median(runs["hameau_cpu_ms"]), 2)
    if options.compare is not None:
        result["compared_files_per_s"] = round(statistics.median(runs["compared"]), 1)
        result["compared_cpu_ms_per_file"] = round(statistics.median(runs["compared_cpu_ms"]), 2)
    if runs["apache"]:
        apache_rate = statistics.median(runs["apache"])
        result["apache_files_per_s"] = round(apache_rate, 1)
        result["apache_ms_per_file"] = round(1000 / apache_rate, 1)
        result["hameau_vs_apache"] = round(ours / apache_rate, 2)
        if options.compare is not None:
            rate = statistics.median(runs["compared"])
            result["compared_vs_apache"] = round(rate / apache_rate, 2)
    else:
        result["apache"] = "apache2 not installed (apt-get install -y apache2)"
    result["load_average"] = os.getloadavg()[0]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
