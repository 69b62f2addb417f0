"""`python -m hameau.compute.sandbox_child FOLDER [PARENT]`: the sandbox run of
`sandbox.Child`, in its own process at the lowest priority with its address space capped,
ending with its parent (the process id PARENT). FOLDER holds
module.wasm and job.json (what `Child` wrote); the outcome is written to outcome.json."""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
from dataclasses import replace
from pathlib import Path

from hameau.compute.sandbox import Limits, address_space, run


def _cap_self(limits: Limits) -> None:
    os.nice(19)
    cap = address_space(limits)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    # One file past the output cap fails with EFBIG instead of filling the disk first.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    biggest = limits.output_bytes + 1
    resource.setrlimit(resource.RLIMIT_FSIZE, (biggest, biggest))


def _die_with_parent(parent: int) -> None:
    """The job ends with the node that started it (killed, crashed): Linux kills this process
    when its parent goes (PR_SET_PDEATHSIG), and a parent already gone is seen at once.
    Elsewhere the job's own deadline ends it."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    if len(argv) > 1:
        _die_with_parent(int(argv[1]))
    job = json.loads((folder / "job.json").read_text())
    limits = Limits(**job["limits"])
    _cap_self(limits)
    module = (folder / "module.wasm").read_bytes()
    outcome = run(
        module, job["args"], Path(job["inputs"]), Path(job["outputs"]), limits, job["seed"]
    )
    usage = resource.getrusage(resource.RUSAGE_SELF)  # start-up and compilation included
    outcome = replace(outcome, cpu_seconds=round(usage.ru_utime + usage.ru_stime, 3))
    partial = folder / "outcome.json.part"
    partial.write_text(outcome.to_json())
    partial.replace(folder / "outcome.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
