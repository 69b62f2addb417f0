"""Dates, durations and numbers written as CLDR writes them in French and English (the
patterns Babel uses, copied for the two interface languages only): Babel's own formatting
loads a language's whole CLDR data on first use, about 5 MB for French (languages,
territories, currencies, time zones) that stayed in the node for good after the first page
showing a date. tests/web/test_formats.py checks every function against Babel."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

MONTHS_SHORT = {
    "fr": [
        "janv.",
        "févr.",
        "mars",
        "avr.",
        "mai",
        "juin",
        "juil.",
        "août",
        "sept.",
        "oct.",
        "nov.",
        "déc.",
    ],
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
}
MONTHS = {
    "fr": [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}
DAYS_SHORT = {
    "fr": ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."],
    "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
}
# (grouping, decimal point); French groups with a narrow no-break space.
SEPARATORS = {"fr": ("\u202f", ","), "en": (",", ".")}

UNITS = (
    ("year", 31536000),
    ("month", 2592000),
    ("week", 604800),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
    ("second", 1),
)
# unit -> (one, other) words: French "il y a 1 jour" / "dans 2 jours", English likewise.
UNIT_WORDS = {
    "fr": {
        "year": ("an", "ans"),
        "month": ("mois", "mois"),
        "week": ("semaine", "semaines"),
        "day": ("jour", "jours"),
        "hour": ("heure", "heures"),
        "minute": ("minute", "minutes"),
        "second": ("seconde", "secondes"),
    },
    "en": {unit: (unit, unit + "s") for unit, _ in UNITS},
}
DIRECTIONS = {"fr": ("il y a {0}", "dans {0}"), "en": ("{0} ago", "in {0}")}


def _is_one(locale: str, count: int) -> bool:
    """CLDR's plural rule "one": 0 and 1 in French, 1 alone in English."""
    return count in (0, 1) if locale == "fr" else count == 1


def relative(seconds: float, locale: str) -> str:
    """ "il y a 5 minutes", "in 2 days": the largest unit of which there is at least one."""
    for unit, length in UNITS:
        value = abs(seconds) / length
        if value >= 1 or unit == "second":
            if unit == "second" and value > 0:
                value = max(1, value)
            count = round(value)
            one, other = UNIT_WORDS[locale][unit]
            past, future = DIRECTIONS[locale]
            direction = future if seconds >= 0 else past
            return direction.format(f"{count} {one if _is_one(locale, count) else other}")
    return ""  # not reached: "second" always answers


def decimal(value: float, locale: str) -> str:
    """A number with grouped thousands and at most three decimals ("#,##0.###")."""
    text = f"{Decimal(str(value)).quantize(Decimal('0.001'), ROUND_HALF_EVEN):f}"
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    fraction = fraction.rstrip("0")
    group, point = SEPARATORS[locale]
    grouped = f"{int(whole):,}".replace(",", group)
    return sign + grouped + (point + fraction if fraction else "")


def day(moment: date, locale: str) -> str:
    """ "EEE d MMM": "lun. 30 nov.", "Mon 30 Nov"."""
    weekday = DAYS_SHORT[locale][moment.weekday()]
    return f"{weekday} {moment.day} {MONTHS_SHORT[locale][moment.month - 1]}"


def month(moment: date, locale: str) -> str:
    """ "LLLL y", capitalized: "Novembre 2026", "November 2026"."""
    return f"{MONTHS[locale][moment.month - 1]} {moment.year}".capitalize()


def clock(moment: datetime, locale: str, seconds: bool = False) -> str:
    """CLDR's short (or medium) time: "09:05" / "09:05:07", "9:05 AM" / "9:05:07 AM"."""
    tail = f":{moment.second:02d}" if seconds else ""
    if locale == "fr":
        return f"{moment.hour:02d}:{moment.minute:02d}{tail}"
    period = "AM" if moment.hour < 12 else "PM"
    return f"{moment.hour % 12 or 12}:{moment.minute:02d}{tail}\u202f{period}"


def medium(moment: datetime, locale: str) -> str:
    """CLDR's medium date and time: "30 nov. 2026, 09:05:07", "Nov 30, 2026, 9:05:07 AM"."""
    short_month = MONTHS_SHORT[locale][moment.month - 1]
    if locale == "fr":
        written = f"{moment.day} {short_month} {moment.year}"
    else:
        written = f"{short_month} {moment.day}, {moment.year}"
    return f"{written}, {clock(moment, locale, seconds=True)}"
