"""The figures' arithmetic, as properties over random figures: the range always holds the
value, the weakest label wins, an unknown stays unknown and keeps its reason."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hameau.footprint.figures import ESTIMATED, MEASURED, UNKNOWN, Figure, reduction, total

values = st.floats(min_value=0.001, max_value=1e6, allow_nan=False)


@st.composite
def figures(draw: st.DrawFn) -> Figure:
    label = draw(st.sampled_from([MEASURED, ESTIMATED, UNKNOWN]))
    if label == UNKNOWN:
        return Figure.unknown("kg", draw(st.sampled_from(["no data", "not logged"])))
    low, value, high = sorted(draw(st.lists(values, min_size=3, max_size=3)))
    if label == MEASURED:
        return Figure.measured(value, "kg", "meter")
    return Figure.estimated(value, "kg", "Boavizta (boaviztapi 2.5.0)", low, high)


def holds(figure: Figure) -> bool:
    return figure.low <= figure.value * (1 + 1e-9) and figure.value <= figure.high * (1 + 1e-9)  # type: ignore[operator]


@given(figures(), figures())
def test_sums_and_products_keep_the_range_and_the_weakest_label(a: Figure, b: Figure) -> None:
    rank = [MEASURED, ESTIMATED, UNKNOWN]
    weakest = max(a.label, b.label, key=rank.index)
    for result in (a + b, a.times(b, "kg²"), a.over(b, "1")):
        assert result.label == weakest
        if weakest == UNKNOWN:
            assert result.value is None and result.source  # the reason stays
        else:
            assert holds(result)


@given(st.lists(figures(), max_size=6))
def test_a_total_is_unknown_as_soon_as_one_part_is(parts: list[Figure]) -> None:
    summed = total(parts, "kg", "sum")
    assert summed.known == all(part.known for part in parts)
    if summed.known:
        assert summed.value == sum(p.value for p in parts)  # type: ignore[misc]


@given(figures(), figures())
def test_a_reduction_s_range_holds_its_value(ours: Figure, theirs: Figure) -> None:
    found = reduction(ours, theirs)
    assert found.known == (ours.known and theirs.known)
    if found.known:
        assert found.low <= found.value + 1e-9 and found.value <= found.high + 1e-9  # type: ignore[operator]
