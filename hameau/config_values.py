"""The converters of the settings' values (hameau/config.py): each takes what a file, the
environment or the command line gave and returns the value, or raises ValueError with the
end of a sentence that says what the value must be."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def one_of(*choices: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if str(value) not in choices:
            raise ValueError(f"must be one of: {', '.join(choices)}")
        return str(value)

    return convert


def positive_int(value: Any) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive whole number")
    return number


def positive_number(value: Any) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError("must be a positive number")
    return number


def share(value: Any) -> float:
    number = float(value)
    if not 0 < number <= 1:
        raise ValueError("must be a share above 0 and at most 1, e.g. 0.8")
    return number


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ValueError("must be true or false")
    return text in ("true", "1", "yes", "on")


def locale(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("fr", "en"):
        raise ValueError("must be 'fr' or 'en'")
    return text


def blob_store(value: Any) -> str:
    text = str(value).strip()
    bucket = text.removeprefix("s3://").partition("/")[0]
    if text != "local" and not (text.startswith("s3://") and bucket):
        raise ValueError("must be local or s3://bucket/prefix")
    return text


def database_url(value: Any) -> str:
    """Empty (the SQLite file in the data dir) or a PostgreSQL URL, for psycopg 3."""
    text = str(value).strip()
    if not text or text.startswith("sqlite:///"):
        return text
    for scheme in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if text.startswith(scheme):
            return "postgresql+psycopg://" + text[len(scheme) :]
    raise ValueError("must be empty (SQLite in the data dir) or postgresql+psycopg://user@host/db")


def port(value: Any) -> int:
    number = int(value)
    if not 0 <= number <= 65535:
        raise ValueError("must be between 0 and 65535")
    return number
