"""Interface languages: gettext catalogues (French first, English), chosen per request."""

from __future__ import annotations

import gettext
from datetime import date, datetime, timedelta
from gettext import GNUTranslations, NullTranslations
from pathlib import Path

from hameau.node.db import utcnow
from hameau.web import formats

LOCALES = ("fr", "en")
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "hameau"


def _catalogue(locale: str) -> NullTranslations:
    """A language's compiled catalogue, read afresh (as Babel's `Translations.load` did)."""
    found = gettext.find(DOMAIN, str(LOCALE_DIR), [locale])
    if found is None:
        return NullTranslations()
    with open(found, "rb") as file:
        return GNUTranslations(file)


def load_catalogues() -> dict[str, NullTranslations]:
    """Every interface language's catalogue, read once, on the first page (the standard
    library's gettext: Babel, which compiles them, is not loaded in the server; -0.7 MB)."""
    return {locale: _catalogue(locale) for locale in LOCALES}


def parse_accept_language(header: str) -> list[str]:
    """Language tags from an Accept-Language header, best first."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag:
            ranked.append((-quality, position, tag.strip().lower()))
    return [tag for quality, _, tag in sorted(ranked) if quality < 0]


def choose_locale(preference: str | None, accept_language: str, default: str) -> str:
    """The member's preference, else the browser's, else the node's default."""
    if preference in LOCALES:
        return preference
    for tag in parse_accept_language(accept_language):
        base = tag.split("-")[0]
        if base in LOCALES:
            return base
    return default


_SIZE_UNITS = {"fr": ("o", "Ko", "Mo", "Go", "To"), "en": ("B", "KB", "MB", "GB", "TB")}


class Formatter:
    """Dates and durations written the way the reader's language writes them."""

    def __init__(self, locale: str) -> None:
        self.locale = locale

    def ago(self, moment: datetime) -> str:
        delta: timedelta = moment - utcnow()
        return formats.relative(delta.total_seconds(), self.locale)

    def size(self, count: int) -> str:
        """Bytes the way people read them: 1,5 Mo in French, 1.5 MB in English."""
        units = _SIZE_UNITS[self.locale]
        value, step = float(count), 0
        while value >= 1024 and step < len(units) - 1:
            value, step = value / 1024, step + 1
        digits = 0 if step == 0 or value >= 100 else 1
        return f"{formats.decimal(round(value, digits), self.locale)} {units[step]}"

    def number(self, value: float, digits: int = 1) -> str:
        """29,4 in French, 29.4 in English."""
        return formats.decimal(round(value, digits), self.locale)

    def day(self, moment: date) -> str:
        return formats.day(moment, self.locale)

    def month(self, moment: date) -> str:
        return formats.month(moment, self.locale)

    def time(self, moment: datetime) -> str:
        return formats.clock(moment.astimezone(), self.locale)

    @staticmethod
    def local_input(moment: datetime) -> str:
        """For <input type="datetime-local">: the node's local time, to the minute."""
        return moment.astimezone().strftime("%Y-%m-%dT%H:%M")

    def when(self, moment: datetime) -> str:
        return formats.medium(moment.astimezone(), self.locale)
