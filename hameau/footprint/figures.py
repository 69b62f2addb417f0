"""A figure of the footprint: a value with its range, its unit, how it is known and from where.

Every number the report shows is a `Figure`. Its label says how it is known: **measured**
(counted or read from a meter on this node), **estimated** (computed from an open data set,
named with its version in `source`) or **unknown** (no value; `source` says why). Arithmetic
carries the range (low–high) and the weakest label through: measured + estimated is an
estimate, anything with an unknown is unknown. Values are never negative here, so a product's
range is the product of the bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MEASURED, ESTIMATED, UNKNOWN = "measured", "estimated", "unknown"
_RANK = {MEASURED: 0, ESTIMATED: 1, UNKNOWN: 2}


def _weakest(*labels: str) -> str:
    return max(labels, key=_RANK.__getitem__)


def _sources(*sources: str) -> str:
    seen: list[str] = []
    for source in sources:
        for part in source.split("; "):
            if part and part not in seen:
                seen.append(part)
    return "; ".join(seen)


@dataclass(frozen=True)
class Figure:
    value: float | None
    low: float | None
    high: float | None
    unit: str
    label: str
    source: str

    @classmethod
    def measured(cls, value: float, unit: str, source: str) -> Figure:
        return cls(value, value, value, unit, MEASURED, source)

    @classmethod
    def estimated(
        cls, value: float, unit: str, source: str, low: float | None = None,
        high: float | None = None,
    ) -> Figure:  # fmt: skip
        low = value if low is None else low
        high = value if high is None else high
        return cls(value, min(low, value), max(high, value), unit, ESTIMATED, source)

    @classmethod
    def unknown(cls, unit: str, why: str) -> Figure:
        return cls(None, None, None, unit, UNKNOWN, why)

    @property
    def known(self) -> bool:
        return self.value is not None

    def _with(self, other: Figure, unit: str, combine: Any) -> Figure:
        label = _weakest(self.label, other.label)
        if not (self.known and other.known):
            why = [f.source for f in (self, other) if not f.known]
            return Figure.unknown(unit, _sources(*why))
        value, low, high = combine(self, other)
        return Figure(value, low, high, unit, label, _sources(self.source, other.source))

    def __add__(self, other: Figure) -> Figure:
        return self._with(
            other, self.unit,
            lambda a, b: (a.value + b.value, a.low + b.low, a.high + b.high),
        )  # fmt: skip

    def times(self, other: Figure, unit: str) -> Figure:
        return self._with(
            other, unit,
            lambda a, b: (a.value * b.value, a.low * b.low, a.high * b.high),
        )  # fmt: skip

    def over(self, other: Figure, unit: str) -> Figure:
        """This figure divided by another (its low bound divides the high one, and back)."""

        def divide(a: Figure, b: Figure) -> tuple[float, float, float]:
            av, al, ah, bv, bl, bh = a.value, a.low, a.high, b.value, b.low, b.high
            assert None not in (av, al, ah, bv, bl, bh)  # _with calls it on known figures only
            return av / bv, al / bh, ah / bl if bl else ah / bv  # type: ignore[operator]

        return self._with(other, unit, divide)

    def scaled(self, factor: float, unit: str | None = None) -> Figure:
        """Multiplied by an exact number (a count, a conversion of units)."""
        if not self.known:
            return Figure.unknown(unit or self.unit, self.source)
        return Figure(self.value * factor, self.low * factor, self.high * factor,  # type: ignore[operator]
                      unit or self.unit, self.label, self.source)  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value, "low": self.low, "high": self.high, "unit": self.unit,
            "label": self.label, "source": self.source,
        }  # fmt: skip


def total(figures: list[Figure], unit: str, source: str = "") -> Figure:
    """The sum of figures (zero, measured, for none); `source` names it in place of the list
    of its parts' sources (an unknown keeps its reason)."""
    result = Figure.measured(0.0, unit, "")
    for figure in figures:
        result = result + figure
    if source and result.known:
        result = Figure(result.value, result.low, result.high, unit, result.label, source)
    return result


def reduction(ours: Figure, theirs: Figure) -> Figure:
    """How much lower `ours` is than `theirs`, as a fraction (1 - ours/theirs), with the range
    its bounds give: the lowest reduction is our high bound against their low one."""
    if not (ours.known and theirs.known) or not theirs.value:
        why = [f.source for f in (ours, theirs) if not f.known] or ["nothing to compare with"]
        return Figure.unknown("%", _sources(*why))
    value = 1 - ours.value / theirs.value  # type: ignore[operator]
    low = 1 - ours.high / theirs.low if theirs.low else value  # type: ignore[operator]
    high = 1 - ours.low / theirs.high if theirs.high else value  # type: ignore[operator]
    label = _weakest(ours.label, theirs.label)
    return Figure(value, low, high, "%", label, _sources(ours.source, theirs.source))
