"""Nearby homes without a network: which settings announce, what an announcement says, and how
a hostile one (too long, fields missing, not UTF-8, an id that is not its key's) is dropped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hameau.config import ConfigError, Settings, load_settings
from hameau.hamlet import nearby
from hameau.hamlet.signing import fingerprint_of, node_id_of
from tests.helpers import in_thread

KEY = bytes(range(32))
NODE_ID, FINGERPRINT = node_id_of(KEY), fingerprint_of(KEY)
OTHER = fingerprint_of(bytes(32))


def record(**fields: str | bytes | None) -> dict[bytes, bytes | None]:
    """A TXT record as zeroconf hands it over: bytes keys and values."""
    given: dict[str, str | bytes | None] = {"id": NODE_ID, "fp": FINGERPRINT, "scheme": "http"}
    given.update(fields)
    return {
        key.encode(): value.encode() if isinstance(value, str) else value
        for key, value in given.items()
        if value != "<absent>"
    }


def test_what_this_node_announces_reads_back() -> None:
    sent = nearby.txt_record(NODE_ID, FINGERPRINT, "https")
    assert set(sent) == {"v", "id", "fp", "scheme"}  # no members, no version of the software
    as_received = {key.encode(): value.encode() for key, value in sent.items()}
    assert nearby.read_txt(as_received) == (NODE_ID, FINGERPRINT, "https")


@pytest.mark.parametrize(
    "hostile",
    [
        {"id": "<absent>"},
        {"fp": "<absent>"},
        {"scheme": "<absent>"},
        {"id": None},  # a key without a value
        {"fp": b""},
        {"id": NODE_ID.encode() + b"\xff"},  # not UTF-8
        {"fp": b"\xc3\x28" * 20},
        {"scheme": b"http\xe9"},
        {"fp": "A" * 300},  # longer than a TXT string can be
        {"id": "a" * 256},
        {"scheme": "ftp"},
        {"scheme": "javascript"},
        {"id": "ABCDEFGHIJKLMNOP"},  # not base32 lower case
        {"fp": FINGERPRINT + "="},
        {"fp": OTHER},  # an id that is not the fingerprint's: another key's id claimed
        {"id": node_id_of(bytes(32))},
    ],
)
def test_a_hostile_txt_record_is_dropped(hostile: dict[str, str | bytes | None]) -> None:
    assert nearby.read_txt(record(**hostile)) is None
    assert (
        nearby.read_announcement("X._hameau._tcp.local.", record(**hostile), ["10.0.0.2"], 80)
        is None
    )


def test_fields_beyond_the_known_ones_are_ignored() -> None:
    extra = record(v="99", junk="\u202e" * 100)
    extra[b"\xff\xfe"] = b"\x00"
    assert nearby.read_txt(extra) == (NODE_ID, FINGERPRINT, "http")


def test_an_announcement_needs_a_port_and_an_address() -> None:
    name = "Maison._hameau._tcp.local."
    for addresses, port in (([], 8080), (["10.0.0.2"], 0), (["10.0.0.2"], None), (["x"], 80)):
        assert nearby.read_announcement(name, record(), addresses, port) is None
    found = nearby.read_announcement(name, record(), ["fe80::1%eth0", "10.0.0.2"], 8080)
    assert found == nearby.Nearby("Maison", "http://10.0.0.2:8080", NODE_ID, FINGERPRINT)
    six = nearby.read_announcement(name, record(scheme="https"), ["2001:db8::5"], 443)
    assert six is not None and six.address == "https://[2001:db8::5]:443"


def test_a_name_is_printable_and_bounded() -> None:
    hostile = "\x1b[31mMaison\x07\n\tRouge" + "é" * 100
    shown = nearby.instance_name(hostile + "._hameau._tcp.local.")
    assert shown.startswith("[31mMaisonRouge") and "\x1b" not in shown and "\n" not in shown
    assert len(shown.encode()) <= 63
    assert nearby.instance_label("\x00\x01") == "hameau"
    assert nearby.instance_label("Chez Léa") == "Chez Léa"


def test_paired_means_the_pinned_key_not_the_name() -> None:
    pinned = {NODE_ID: ("B", FINGERPRINT, "http://10.0.0.3:80")}
    claims_b = nearby.Nearby("B", "http://10.0.0.9:80", node_id_of(bytes(32)), OTHER)
    real_b = nearby.Nearby("Another name", "http://10.0.0.3:80", NODE_ID, FINGERPRINT)
    marked = nearby.mark_paired([claims_b, real_b], pinned)
    assert [(n.name, n.paired) for n in marked] == [("Another name", "B"), ("B", None)]
    assert marked[0].paired_address == "http://10.0.0.3:80" and marked[1].paired_address is None


EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 - a setting's value, nothing is bound


def settings(**values: str) -> Settings:
    return Settings(data_dir=Path("/nonexistent"), **values)  # type: ignore[arg-type]


def test_announcing_is_on_unless_the_node_listens_on_loopback_only() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.1.1"):
        assert not nearby.announcing(settings(host=host))
    for host in (EVERY_INTERFACE, "::", "192.168.1.20"):
        assert nearby.announcing(settings(host=host))
    assert not nearby.announcing(settings(host=EVERY_INTERFACE, hamlet_announce="off"))
    assert nearby.announcing(settings(host="127.0.0.1", hamlet_announce="on"))


def test_the_setting_comes_from_the_environment_and_is_checked(tmp_path: Path) -> None:
    found = load_settings(
        tmp_path, {"HAMEAU_HAMLET_ANNOUNCE": "off", "HAMEAU_HOST": EVERY_INTERFACE}
    )
    assert not nearby.announcing(found)
    with pytest.raises(ConfigError, match="hamlet_announce"):
        load_settings(tmp_path, {"HAMEAU_HAMLET_ANNOUNCE": "yes"})


def test_the_announcing_engine_expires_its_cache_every_five_minutes_not_ten_seconds() -> None:
    """The one periodic timer zeroconf keeps once its announcements are sent; this fails if a
    zeroconf upgrade renames what `_quiet` replaces (then an idle node would wake 6 times a
    minute again)."""
    zeroconf_asyncio = pytest.importorskip("zeroconf.asyncio")

    async def delays() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        plain = zeroconf_asyncio.AsyncZeroconf(interfaces=["127.0.0.1"])
        quiet = zeroconf_asyncio.AsyncZeroconf(interfaces=["127.0.0.1"])
        nearby._quiet(quiet.zeroconf)
        try:
            await plain.zeroconf.async_wait_for_start()
            await quiet.zeroconf.async_wait_for_start()
            return (
                plain.zeroconf.engine._cleanup_timer.when() - loop.time(),
                quiet.zeroconf.engine._cleanup_timer.when() - loop.time(),
            )
        finally:
            await plain.async_close()
            await quiet.async_close()

    try:
        plain, quiet = in_thread(asyncio.run, delays())
    except OSError as error:
        pytest.skip(f"not run: no multicast socket here ({error})")
    assert plain <= 10
    assert quiet > 60
