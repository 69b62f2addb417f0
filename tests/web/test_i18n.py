"""French first, English too: member preference, then Accept-Language, then the node's default."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from hameau import parts
from hameau.node.datadir import Node
from hameau.web.i18n import LOCALE_DIR, choose_locale, parse_accept_language
from tests.helpers import add_member, browser, log_in, post_form


def test_accept_language_is_ranked_by_quality() -> None:
    assert parse_accept_language("en;q=0.5, fr-FR, de;q=0.9") == ["fr-fr", "de", "en"]
    assert choose_locale(None, "de, en-GB;q=0.8", "fr") == "en"
    assert choose_locale(None, "de, es", "fr") == "fr"
    assert choose_locale("en", "fr", "fr") == "en"
    assert choose_locale(None, "garbage;q=x,,,", "fr") == "fr"


def test_pages_are_french_by_default_and_english_on_request(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    assert "Se connecter" in client.get("/login").text
    english = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Log in" in english.text and 'lang="en"' in english.text


def test_the_members_preference_wins(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    log_in(client, "alex")
    assert "Mon compte" in client.get("/account").text
    post_form(client, "/account", "/account/language", language="en")
    assert "My account" in client.get("/account", headers={"Accept-Language": "fr"}).text


def test_every_message_has_a_french_translation() -> None:
    with (LOCALE_DIR / "hameau.pot").open("rb") as handle:
        template = read_po(handle)
    with (LOCALE_DIR / "fr" / "LC_MESSAGES" / "hameau.po").open("rb") as handle:
        french = read_po(handle, locale="fr")
    missing = [
        message.id
        for message in template
        if message.id
        and (french.get(message.id) is None or not all(french.get(message.id).string or [""]))
    ]
    assert missing == []


def _entries(catalogue) -> dict:  # type: ignore[no-untyped-def]
    """msgid -> msgstr of the translated messages, plural forms as tuples."""
    as_key = lambda value: value if isinstance(value, str) else tuple(value)  # noqa: E731
    return {
        as_key(m.id): as_key(m.string)
        for m in catalogue
        if m.id and any([m.string] if isinstance(m.string, str) else m.string)
    }


def test_compiled_catalogues_match_their_sources() -> None:
    for language in ("fr", "en"):
        folder = LOCALE_DIR / language / "LC_MESSAGES"
        with (folder / "hameau.po").open("rb") as handle:
            source = _entries(read_po(handle))
        with (folder / "hameau.mo").open("rb") as handle:
            compiled = _entries(read_mo(handle))
        stale = {key for key, value in source.items() if compiled.get(key) != value}
        assert not stale, f"run `make i18n`: {language} .mo is out of date"


def test_the_template_lists_every_message_in_the_code(tmp_path: Path) -> None:
    """`make i18n` was run after the last change of user-visible text."""
    root = Path(__file__).resolve().parents[2]
    check = subprocess.run(
        ["make", "-s", "i18n-check", f"I18N_CHECK_OUT={tmp_path / 'fresh.pot'}",
         f"BIN={Path(sys.executable).parent}"],
        cwd=root, capture_output=True, text=True,
    )  # fmt: skip
    assert check.returncode == 0, "run `make i18n`: " + check.stdout + check.stderr


def _imported_error_classes() -> set[str]:
    """Every HameauError subclass once every module of hameau/ is imported: found by Python
    itself, so a class the registry's reading of the sources would miss shows here."""
    import importlib
    import pkgutil

    import hameau
    from hameau.errors import HameauError

    for module in pkgutil.walk_packages(hameau.__path__, "hameau."):
        if ".migrations" in module.name:  # Alembic's scripts, run by Alembic only
            continue
        try:
            importlib.import_module(module.name)
        except ImportError as missing:  # an optional engine (llama-cpp-python) not installed
            assert missing.name and not missing.name.startswith("hameau"), missing
    found, todo = set(), [HameauError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_class_is_extracted_for_translation() -> None:
    """An error's sentence is translated only if its class is a keyword of the extraction,
    and the Makefile's keywords are the registry's (`python -m hameau.parts keywords`)."""
    root = Path(__file__).resolve().parents[2]
    assert "$(shell $(BIN)/python -m hameau.parts keywords)" in (root / "Makefile").read_text()
    keywords = set(re.findall(r"-k (\w+)", parts.keywords()))
    assert sorted(_imported_error_classes() - keywords) == []
    assert {"N_", "Phrase", "HomeUnreachable", "SyncFailed", "StoreNotMounted"} <= keywords


# CLI output and admin-only technical text may say "nœud"; members never read these.
ADMIN_OR_CLI_ONLY = {
    "%(dir)s already holds a node; choose another --data-dir.",  # hameau init (CLI)
    "The node in %(dir)s is not a satellite; make one with `hameau travel pack`.",  # CLI
    "Metrics are for the node's admins, or for loopback.",  # /metrics, scraped by tools
}


def test_members_never_read_the_word_noeud() -> None:
    with (LOCALE_DIR / "fr" / "LC_MESSAGES" / "hameau.po").open("rb") as handle:
        french = read_po(handle, locale="fr")
    technical = [
        message.id
        for message in french
        if message.id
        and message.id not in ADMIN_OR_CLI_ONLY
        and "nœud"
        in " ".join([message.string] if isinstance(message.string, str) else message.string).lower()
    ]
    assert technical == [], "say 'le serveur de la maison' to members, not 'nœud'"
    for template in (Path(__file__).parents[2] / "hameau").rglob("*.html"):
        assert "nœud" not in template.read_text(encoding="utf-8").lower(), template


def test_english_pages_say_home_server_not_node() -> None:
    """The English side too; 'the home node' stays in the travel commands' messages, where a
    laptop's satellite (itself a node) talks about the house's one."""
    with (LOCALE_DIR / "hameau.pot").open("rb") as handle:
        template = read_po(handle)
    technical = [
        message.id
        for message in template
        if isinstance(message.id, str)
        and message.id not in ADMIN_OR_CLI_ONLY | {"This node is not a satellite."}
        and re.search(r"\bnodes?\b", message.id.replace("home node", ""))
    ]
    assert technical == [], "say 'the home server' to members, not 'node'"
