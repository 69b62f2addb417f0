"""The engines behind one interface: llama.cpp's own server by default, llama-cpp-python only
when it is installed (its tests then say "not run"), and the dev install builds llama.cpp once."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.ai.needs import BLOCK_LLAMA_CPP, LLAMA_CPP_ABSENT
from tests.helpers import make_node

ROOT = Path(__file__).resolve().parents[2]


def _without_llama_cpp(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Python code run in a child where `import llama_cpp` fails as if it was not installed."""
    return subprocess.run(
        [sys.executable, "-c", BLOCK_LLAMA_CPP + code], capture_output=True, text=True,
        cwd=ROOT, timeout=300, env={**os.environ, "COLUMNS": "200", **env},
    )  # fmt: skip


def test_the_dev_install_does_not_compile_llama_cpp_python() -> None:
    """`make test` installs `.[dev]`: llama.cpp is then built once, for llama-server."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    pulled, todo = set(), ["dev"]
    while todo:
        for requirement in extras[todo.pop()]:
            if requirement.startswith("hameau[") and requirement[7:-1] not in pulled:
                pulled.add(requirement[7:-1])
                todo.append(requirement[7:-1])
            assert not requirement.startswith("llama-cpp-python"), requirement
    assert any(r.startswith("llama-cpp-python") for r in extras["llama-cpp"])


def test_without_llama_cpp_python_its_tests_say_not_run() -> None:
    done = _without_llama_cpp(
        "import pytest; sys.exit(pytest.main(['-rs', '-p', 'no:cacheprovider', '-q',"
        " 'tests/e2e/test_ai.py::test_nothing_answers_without_a_valid_app_password"
        "[llama-cpp-python]']))"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert LLAMA_CPP_ABSENT in done.stdout and "1 skipped" in done.stdout
    assert "passed" not in done.stdout


def test_without_llama_cpp_python_auto_chooses_llama_server(tmp_path: Path) -> None:
    """No llama-server found and llama-cpp-python absent: `auto` says llama-server is
    missing and what to run (not llama-cpp-python, an optional extra)."""
    make_node(tmp_path / "node").close()
    command = (
        "from hameau.cli import main; sys.argv = ['hameau', 'ai', 'models', '--data-dir',"
        f" {str(tmp_path / 'node')!r}]; main()"
    )
    absent = _without_llama_cpp(command, HAMEAU_AI_SERVER=str(tmp_path / "none"))
    assert "Runs on: llama-server, which is not installed: run `hameau ai install-server`" in (
        absent.stdout
    ), absent.stdout + absent.stderr
    chosen = _without_llama_cpp(
        "from hameau.ai import engines; from hameau.config import Settings;"
        " print(engines.chosen(Settings(data_dir='.', ai_runtime='llama-cpp-python'))[0],"
        " engines.installed(Settings(data_dir='.', ai_runtime='llama-cpp-python')))"
    )
    assert chosen.stdout.split() == ["llama-cpp-python", "False"], chosen.stderr


def test_engines_do_not_import_the_runtime() -> None:
    """runtime imports engines, never the reverse (no import cycle)."""
    engines = ROOT / "hameau" / "ai" / "engines"
    for path in [*engines.glob("*.py"), ROOT / "hameau" / "ai" / "backend.py"]:
        imported = set()
        for statement in ast.walk(ast.parse(path.read_text())):
            if isinstance(statement, ast.ImportFrom):
                imported |= {f"{statement.module}.{alias.name}" for alias in statement.names}
                imported.add(str(statement.module))
            elif isinstance(statement, ast.Import):
                imported |= {alias.name for alias in statement.names}
        assert "hameau.ai.runtime" not in imported, path


def test_a_llama_server_that_crashes_loading_says_to_build_it_again(tmp_path: Path) -> None:
    """A llama-server built for another processor dies on a signal (as an AMX build did on
    a Xeon guest): the answer names the binary and what to run, not a damaged model."""
    from starlette.testclient import TestClient

    from hameau.accounts import members, tokens
    from hameau.app import create_app
    from hameau.node.db import transaction
    from tests.helpers import add_member

    binary = tmp_path / "llama-server"
    binary.write_text("#!/bin/sh\nkill -SEGV $$\n")
    binary.chmod(0o755)
    node = make_node(tmp_path / "node", ai_runtime="llama-server", ai_server=str(binary))
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        key = tokens.create_token(session, members.find_member(session, "alex"), "ai")[1]
    (tmp_path / "node" / "models").mkdir()
    (tmp_path / "node" / "models" / "petit.gguf").write_bytes(b"GGUF" + b"\x00" * 64)
    with TestClient(create_app(node)) as client:
        answer = client.post(
            "/v1/chat/completions",
            json={"model": "petit", "messages": [{"role": "user", "content": "Bonjour"}]},
            headers={"Authorization": f"Bearer {key}"},
        )
    node.close()
    assert answer.status_code == 503
    said = answer.json()["error"]["message"]
    assert "llama-server" in said and "11" in said and "hameau ai install-server" in said, said
