"""restic, run as a subprocess: the one place that knows its command line, its JSON and how it
says that something went wrong (each failure becomes one sentence for the admin).

The repository's password reaches restic through RESTIC_PASSWORD_FILE only: never on its
command line (visible in `ps`) nor in a log."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hameau.backup.target import Repository
from hameau.errors import N_, HameauError

log = logging.getLogger("hameau.backup")

# Given the restic process of a backup as it starts (the served node's scheduler keeps it).
Watch = Callable[["subprocess.Popen[str]"], None]
RESTIC = os.environ.get("HAMEAU_RESTIC", "/usr/bin/restic")
TIMEOUT = 24 * 3600.0  # a first backup of a large disk to a slow peer may take hours


class BackupFailed(HameauError):
    """restic could not do what was asked; the sentence says why and what to do."""

    status = 502


# What restic says (in its stderr) → the sentence the admin reads; first match wins.
DIAGNOSES = (
    ("wrong password", N_("The backup password does not open the backup at %(where)s; give the"
     " password of the recovery sheet that names it.")),
    ("Is there a repository", N_("There is no backup at %(where)s; check that the disk is plugged"
     " in or that the neighbour still offers space, or set it up again.")),
    ("config file already exists", N_("A backup made with another password is already at"
     " %(where)s; give its password (the recovery sheet's) or choose another place.")),
    ("ciphertext verification failed", N_("The backup at %(where)s is damaged (restic found parts"
     " of it altered); restore from another backup target, and run restic check on it.")),
    ("unable to create lock", N_("The backup at %(where)s is in use by another backup; try again"
     " when it has finished.")),
    ("already locked", N_("The backup at %(where)s is in use by another backup; try again when it"
     " has finished.")),
    ("no space left", N_("The backup at %(where)s has no space left; free some space there or ask"
     " the neighbour for a larger offer.")),
    ("quota", N_("The backup at %(where)s has no space left; free some space there or ask the"
     " neighbour for a larger offer.")),
    ("insufficient storage", N_("The backup at %(where)s has no space left; free some space there"
     " or ask the neighbour for a larger offer.")),
    ("There were", N_("The backup at %(where)s is damaged (restic could not read all of it);"
     " restore from another backup target, and run restic check on it.")),
)  # fmt: skip
UNKNOWN = N_("restic failed with the backup at %(where)s (%(reason)s); see the home server's log.")


def diagnose(stderr: str, where: str) -> BackupFailed:
    for clue, sentence in DIAGNOSES:
        if clue.lower() in stderr.lower():
            return BackupFailed(sentence, where=where)
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return BackupFailed(UNKNOWN, where=where, reason=(lines[-1] if lines else "no message")[:200])


@dataclass
class Restic:
    """restic toward one repository, with the household's password file."""

    repository: Repository
    password_file: Path
    where: str  # how the admin knows the target, for the sentences
    cache_dir: Path | None = None
    # A run's lock, held by every restic it starts for as long as it lives; and who is told
    # of each restic started (the run notes its pid; the served node can end it).
    lock: int | None = None
    watch: Watch | None = None

    def _popen(self, args: list[str], cwd: Path | None, **streams: Any) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            self._command(args), cwd=cwd, env=self._env(), text=True, stdin=subprocess.DEVNULL,
            pass_fds=() if self.lock is None else (self.lock,), **streams,
        )  # fmt: skip
        if self.watch is not None:
            self.watch(process)
        return process

    def _command(self, args: Sequence[str]) -> list[str]:
        cache = ["--cache-dir", str(self.cache_dir)] if self.cache_dir else ["--no-cache"]
        return [RESTIC, "-r", self.repository.url, *cache, *args]

    def _env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        return {**keep, **self.repository.env, "RESTIC_PASSWORD_FILE": str(self.password_file),
                "RESTIC_PROGRESS_FPS": "0.1"}  # fmt: skip

    def start(self, args: Sequence[str], cwd: Path | None = None) -> subprocess.Popen[str]:
        return self._popen(list(args), cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run(self, args: Sequence[str], cwd: Path | None = None) -> str:
        """restic's standard output; a failure raises BackupFailed with its sentence."""
        process = self.start(args, cwd)
        out, err = process.communicate(timeout=TIMEOUT)
        if process.returncode != 0:
            log.warning("restic %s failed (%s): %s", args[0], process.returncode, err.strip())
            raise diagnose(err, self.where)
        return out

    def stream(self, args: Sequence[str], cwd: Path | None = None) -> dict[str, Any]:
        """`restic ARGS --json` read line by line (a long backup's progress is not kept);
        its summary."""
        with tempfile.TemporaryFile("w+") as errors:
            process = self._popen([*args, "--json"], cwd, stdout=subprocess.PIPE, stderr=errors)
            assert process.stdout is not None
            last = ""
            for line in process.stdout:
                if '"summary"' in line:
                    last = line
            process.wait()
            errors.seek(0)
            err = errors.read()
        if process.returncode not in (0, 3):  # 3: some files could not be read, the rest is in
            log.warning("restic %s failed (%s): %s", args[0], process.returncode, err.strip())
            raise diagnose(err, self.where)
        if process.returncode == 3:
            log.warning("restic %s could not read some files: %s", args[0], err.strip())
        return summary(last)

    def json(self, args: Sequence[str]) -> Any:
        return json.loads(self.run([*args, "--json"]) or "null")

    def exists(self) -> bool:
        """Whether a repository is there (whatever its password)."""
        process = self.start(["cat", "config", "--no-lock"])
        _, err = process.communicate(timeout=600)
        if process.returncode == 0:
            return True
        if "Is there a repository" in err or "does not exist" in err:
            return False
        raise diagnose(err, self.where)


def summary(output: str) -> dict[str, Any]:
    """The summary line of `restic backup --json` (the lines before it are progress)."""
    for line in reversed(output.splitlines()):
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("message_type") == "summary":
            return message
    raise BackupFailed(UNKNOWN, where="?", reason="no summary from restic backup")
