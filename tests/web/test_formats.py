"""The pages' dates, durations and sizes read exactly as Babel (CLDR) writes them, in French
and English, without the node loading Babel's locale data (hameau/web/formats.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from babel.dates import format_date, format_datetime, format_time, format_timedelta
from babel.numbers import format_decimal

from hameau.web import formats

LOCALES = ("fr", "en")
# Every month, every weekday, midnight, noon, one-digit and two-digit hours and days.
MOMENTS = [
    datetime(2026, month, day, hour, minute, second)
    for month in range(1, 13)
    for day, hour, minute, second in ((1, 0, 0, 0), (9, 9, 5, 7), (17, 12, 30, 59), (28, 23, 59, 1))
] + [datetime(2027, 3, day, 13, 1, 2) for day in range(1, 8)]
SECONDS = [0, 0.4, 0.5, 1, 1.5, 2.5, 59, 59.6, 60, 89, 90, 150, 3599, 3600, 5400, 86399]
SECONDS += [86400, 86400 * 3.5, 604800, 604800 * 2.5, 2592000, 2592000 * 11, 31536000 * 3]
NUMBERS = [0, 0.0004, 0.5, 1, 1.5, 12.25, 99.9, 100, 999.5, 1000, 1234.5, 1_000_000.1]
NUMBERS += [1023.9, 123_456_789, -1, -1234.5, 2.675, 0.0005, 0.0015]


@pytest.mark.parametrize("locale", LOCALES)
def test_dates_and_times_read_as_cldr_writes_them(locale: str) -> None:
    for moment in MOMENTS:
        assert formats.day(moment, locale) == format_date(moment, "EEE d MMM", locale=locale)
        expected_month = format_date(moment, "LLLL y", locale=locale).capitalize()
        assert formats.month(moment, locale) == expected_month
        assert formats.clock(moment, locale) == format_time(moment, "short", locale=locale)
        expected = format_datetime(moment, "medium", locale=locale)
        assert formats.medium(moment, locale) == expected


@pytest.mark.parametrize("locale", LOCALES)
def test_durations_read_as_cldr_writes_them(locale: str) -> None:
    for seconds in SECONDS:
        for signed in (seconds, -seconds):
            expected = format_timedelta(
                timedelta(seconds=signed), add_direction=True, locale=locale, threshold=1
            )
            assert formats.relative(signed, locale) == expected, signed


@pytest.mark.parametrize("locale", LOCALES)
def test_numbers_read_as_cldr_writes_them(locale: str) -> None:
    for number in NUMBERS:
        assert formats.decimal(number, locale) == format_decimal(number, locale=locale), number


def test_the_pages_formatter_uses_them() -> None:
    from hameau.web.i18n import Formatter

    moment = datetime(2026, 11, 30, 8, 5, 7, tzinfo=UTC)
    french = Formatter("fr")
    assert french.size(1_572_864) == "1,5 Mo" and french.number(29.44) == "29,4"
    assert french.ago(datetime.now(UTC) - timedelta(minutes=5, seconds=2)) == "il y a 5 minutes"
    assert french.day(moment) == "lun. 30 nov." and french.month(moment) == "Novembre 2026"
    local = moment.astimezone()
    assert french.when(moment) == format_datetime(local, "medium", locale="fr")
    assert Formatter("en").time(moment) == format_time(local, "short", locale="en")
