"""The served node's RAPL timer exists only where a counter can be read."""

from __future__ import annotations

from pathlib import Path

from hameau.footprint.state import readable


def test_no_timer_without_a_readable_counter(tmp_path: Path) -> None:
    assert not readable(tmp_path / "absent")
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    assert not readable(tmp_path)  # a zone without its counter
    (zone / "energy_uj").write_text("garbage\n")
    assert not readable(tmp_path)
    (zone / "energy_uj").write_text("12345\n")
    assert readable(tmp_path)
