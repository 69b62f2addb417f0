"""schemathesis against a served node: no 5xx, and every answer (status, content type, body,
`Allow` on 405, 401 without credentials) as the OpenAPI description says.

schemathesis runs from a virtual environment of its own, `.venv-schemathesis`, made by
`make test`: the `caldav` client in the project's environment pulls `urllib3-future`, which
breaks schemathesis's HTTP transport. The seed is fixed and the examples per operation bounded.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hameau.accounts import members, tokens
from hameau.node.db import transaction
from hameau.notes import service as notes
from tests.e2e.served import Served, serve
from tests.helpers import add_member, make_node

pytestmark = pytest.mark.e2e
CLI = Path(__file__).resolve().parents[2] / ".venv-schemathesis" / "bin" / "schemathesis"
EXAMPLES = 25  # per operation and phase: about a minute and a half on two loaded cores
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance,unsupported_method,"
    "allow_header_conformance,ignored_auth"
)
# Left out, each with its reason (what covers it instead).
EXCLUDED_PATHS = {
    # Each call loads a model and runs it on the CPU (seconds to minutes on two cores):
    # tests/e2e/test_ai.py drives these routes with the official openai client. (/v1/models,
    # which loads nothing, is fuzzed with the rest.)
    "^/v1/(chat/completions|completions|embeddings)$",
}
EXCLUDED_OPERATIONS = {
    # Revoking app passwords by id revokes the fuzzer's own credential within a few calls,
    # and every later answer is a 401; tests/accounts covers this route.
    "revoke_token_api_tokens__token_id__delete",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    if not CLI.exists():  # before a node is served for nothing
        pytest.skip("not run: schemathesis is not in .venv-schemathesis; `make test` installs it")
    root = tmp_path_factory.mktemp("schemathesis") / "node"
    made = make_node(root)
    add_member(made, "alex", admin=True)
    add_member(made, "sam")
    with transaction(made.sessions) as session:
        alex = members.find_member(session, "alex")
        notes.create(session, alex, "Courses\n\npain\n")  # something for the note routes
        secret = tokens.create_token(session, alex, "schemathesis")[1]
    made.close()
    with serve(root) as node:
        put = urllib.request.Request(
            f"{node.url}/api/files/mine/hello.txt", data=b"hello", method="PUT",
            headers={"Authorization": f"Bearer {secret}"},
        )  # fmt: skip
        urllib.request.urlopen(put, timeout=10).close()  # the file the description's example names
        yield node, secret


def test_the_api_answers_as_its_description_says(
    served: tuple[Served, str], tmp_path: Path
) -> None:
    node, secret = served
    command = [
        str(CLI), "run", f"{node.url}/api/openapi.json",
        "--header", f"Authorization: Bearer {secret}",
        "--checks", CHECKS,
        "--max-examples", str(EXAMPLES),
        "--seed", "20261130",
        "--workers", "1",
        "--request-timeout", "30",
        "--generation-database", "none",
        "--no-color",
        *[arg for path in EXCLUDED_PATHS for arg in ("--exclude-path-regex", path)],
        *[arg for name in EXCLUDED_OPERATIONS for arg in ("--exclude-operation-id", name)],
    ]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    started = time.monotonic()
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path
    )  # in a folder of its own: schemathesis keeps a cache of what it found where it runs
    took = time.monotonic() - started
    report = run.stdout + run.stderr
    assert run.returncode == 0, f"schemathesis found problems ({took:.0f} s):\n{report}"
    assert " passed" in report and "Tested:" in report, report
    assert "Traceback" not in node.output(), node.output()[-4000:]
