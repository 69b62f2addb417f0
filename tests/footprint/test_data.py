"""The vendored reference data: one row per factor with its source, version and licence; the
node reads that small file and never loads boaviztapi; the script that refreshes it says
what to do where boaviztapi is missing, and rebuilds the very same file where it is there."""

from __future__ import annotations

import ast
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hameau.footprint.factors import DATA, load
from tests.helpers import make_node

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "refresh_boavizta.py"
COLUMNS = ["table", "key", "metric", "value", "low", "high", "unit", "source", "version", "licence"]
# A Python with boaviztapi 2.5.0, made as the script's first lines say (not the node's).
BOAVIZTA_PYTHON = Path(os.environ.get("BOAVIZTA_PYTHON", "/tmp/bz/bin/python"))


def test_every_factor_says_where_it_comes_from_and_under_which_licence() -> None:
    with DATA.open(newline="", encoding="utf-8") as source:
        reader = csv.DictReader(source)
        assert reader.fieldnames == COLUMNS
        rows = list(reader)
    assert len(rows) > 20
    for row in rows:
        assert row["source"] and row["licence"] and row["version"] == "boaviztapi 2.5.0", row
        if row["value"]:
            assert float(row["low"]) <= float(row["value"]) <= float(row["high"]), row
    # The ones the report names: France's electricity and the three criteria of a laptop.
    assert load().figure("electricity", "FRA", "gwp").value == pytest.approx(0.098)
    laptop = {c: load().figure("embodied", "laptop", c) for c in ("gwp", "adp", "pe")}
    assert laptop["gwp"].value == 175 and laptop["gwp"].label == "estimated"
    assert not laptop["pe"].known and "boaviztapi 2.5.0" in laptop["pe"].source


def test_the_node_reads_the_file_and_never_loads_boaviztapi(tmp_path: Path) -> None:
    # No source of the node imports it ...
    for path in (ROOT / "hameau").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names = [a.name for a in node.names] + [getattr(node, "module", "")]
            assert not any((n or "").startswith("boaviztapi") for n in names), path
    # ... and a whole report, made by the command, loads none of its heavy company.
    make_node(tmp_path / "n").close()
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['hameau', 'impact', 'report', '--format', 'json', '--data-dir', {str(tmp_path / 'n')!r}]\n"
        "try:\n    runpy.run_module('hameau', run_name='__main__')\nexcept SystemExit as end:\n"
        "    assert not end.code, end.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('boaviztapi', 'pandas', 'scipy', 'numpy'))\n"
        "print('\\nLOADED', heavy)\n"
    )  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "LOADED []"
    assert '"data": "Boavizta, boaviztapi 2.5.0"' in done.stdout
    assert '"country": "FRA"' in done.stdout  # France's electricity, the machine not described


def test_the_refresh_script_without_boaviztapi_says_what_to_do(tmp_path: Path) -> None:
    target = tmp_path / "boavizta.csv"
    target.write_text("kept\n")
    done = subprocess.run([sys.executable, str(SCRIPT), str(target)], capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode != 0
    said = done.stderr.strip().splitlines()
    assert len(said) == 1 and "throwaway virtual environment" in said[0], done.stderr
    assert target.read_text() == "kept\n"  # nothing written over


def test_the_refresh_script_rebuilds_the_vendored_file(tmp_path: Path) -> None:
    if not BOAVIZTA_PYTHON.exists():
        pytest.skip(
            f"not run: no Python with boaviztapi 2.5.0 at {BOAVIZTA_PYTHON} (the node never"
            " needs it; make one as scripts/refresh_boavizta.py says, or set BOAVIZTA_PYTHON)"
        )
    target, cpus = tmp_path / "boavizta.csv", tmp_path / "cpu_specs.csv"
    done = subprocess.run([str(BOAVIZTA_PYTHON), str(SCRIPT), str(target), str(cpus)],
                          capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert target.read_text(encoding="utf-8") == DATA.read_text(encoding="utf-8")
    assert cpus.read_text(encoding="utf-8") == (DATA.parent / "cpu_specs.csv").read_text(
        encoding="utf-8"
    )


def test_the_docs_say_the_method_the_sources_the_boundaries_and_the_limits() -> None:
    text = (ROOT / "docs" / "footprint.md").read_text(encoding="utf-8")
    for heading in ("## Method", "## Scenarios and their boundaries", "## Reference data",
                    "## Limits"):  # fmt: skip
        assert f"\n{heading}\n" in text, heading
    for named in ("boavizta.csv", "cpu_specs.csv", "AGPL-3.0", "refresh_boavizta.py", "measured",
                  "estimated", "unknown", "named by the admin"):  # fmt: skip
        assert named in text, named
