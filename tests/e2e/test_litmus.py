"""The WebDAV conformance suite litmus (basic, copymove, props, locks, http), run in full
against a real `hameau serve`: any failed litmus test fails this one."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hameau.accounts import members, tokens
from hameau.node.db import transaction
from tests.e2e.served import serve
from tests.helpers import add_member, make_node

pytestmark = pytest.mark.e2e

SUITES = ("basic", "copymove", "props", "locks", "http")
SUMMARY = re.compile(r"<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed")


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_litmus_passes_in_full(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    if shutil.which("litmus") is None:
        pytest.fail("litmus is missing: install Debian's litmus (.ci/run does).")
    root = tmp_path / "node"
    options = {}
    if database == "postgresql":  # the same doors on the other database (docs/scale.md)
        from tests.pg import name_in_settings

        options = name_in_settings(root, request.getfixturevalue("pg_url"))
    node = make_node(root, **options)
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "litmus")[1]
    node.close()
    with serve(root) as served:
        run = subprocess.run(
            ["litmus", "--keep-going", f"{served.url}/dav/files/mine/", "alex", secret],
            capture_output=True,
            text=True,
            cwd=tmp_path,  # litmus writes its debug.log here
            timeout=600,
        )
    output = run.stdout + run.stderr
    found = {
        suite: (int(total), int(passed)) for suite, total, passed, _ in SUMMARY.findall(output)
    }
    passed = sum(count for _total, count in found.values())
    total = sum(total for total, _count in found.values())
    print(f"litmus: {passed}/{total} passed")  # the figure docs/benchmarks.md reports
    failures = [line for line in output.splitlines() if "FAIL" in line or "SKIPPED" in line]
    assert tuple(found) == SUITES, output
    assert run.returncode == 0 and passed == total, "\n".join(failures)
    assert "SKIPPED" not in output, "\n".join(failures)  # a skipped test is not a pass
