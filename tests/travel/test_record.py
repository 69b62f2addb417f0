"""A satellite's record written before each domain kept its own sync state still loads, with
its cursors where the domains now look for them (a laptop packed before the update)."""

from __future__ import annotations

import json
from pathlib import Path

from hameau.travel import satellite as record


def test_a_record_of_an_earlier_version_keeps_its_cursors(tmp_path: Path) -> None:
    earlier = {
        "home": "http://maison.local:8080", "member": "alex", "device_name": "laptop",
        "token": "hm_x", "home_replica": "abc", "takes": ["files:mine/Voyage", "calendar:agenda"],
        "home_cursor": {"mine": 40}, "local_cursor": {"mine": 12},
        "retry": {"mine": ["Voyage/film.bin"]}, "calendar_base": {"agenda": {"uid-1": "f00"}},
    }  # fmt: skip
    (tmp_path / record.FILE).write_text(json.dumps(earlier))
    found = record.load(tmp_path)
    assert found is not None
    assert found.state["files"] == {
        "home": {"mine": 40},
        "local": {"mine": 12},
        "retry": {"mine": ["Voyage/film.bin"]},
    }
    assert found.state["calendar"] == {"base": {"agenda": {"uid-1": "f00"}}}
    assert found.taken("files") == ["mine/Voyage"] and found.taken("calendar") == ["agenda"]
    record.save(tmp_path, found)  # written again in the new shape, read back the same
    assert record.load(tmp_path) == found
