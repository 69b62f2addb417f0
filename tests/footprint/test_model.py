"""The model's rules on their own (pure functions), against values computed by hand from the
vendored data (boaviztapi 2.5.0)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hameau.footprint.factors import load
from hameau.footprint.figures import ESTIMATED, Figure
from hameau.footprint.model import Device, electricity, lent_compute, line


def test_ai_lent_on_this_node_against_a_small_cloud_instance_by_hand() -> None:
    factors = load()
    grid = electricity(factors, "FRA")  # 0.098 kgCO2e/kWh
    node = line(factors, Device("node", "laptop", Figure.estimated(5.0, "years", "default"),
                                power=Figure.measured(20.0, "W", "wall meter"), node=True), grid)  # fmt: skip
    here, cloud = lent_compute(factors, Figure.measured(2.0, "h", "logged"), node, 2, grid)
    # Here: 20 W / 2 CPUs × 2 h = 20 Wh = 0.02 kWh × 0.098 = 0.00196 kgCO2e; manufacture
    # 175 kg / 5 years / (2 CPUs × 8760 h) × 2 h = 35 / 8760 = 0.0039954 kgCO2e.
    assert here.value == pytest.approx(0.00196 + 35 / 8760)
    # A cloud instance (aws c5.large, 2 vCPUs): 2 CPU hours = 1 instance hour; 13.9401 W ×
    # 1 h = 0.0139401 kWh × 0.098 = 0.001366130 kgCO2e; manufacture 0.00037 kgCO2e an hour.
    assert cloud.value == pytest.approx(0.0139401 * 0.098 + 0.00037)
    # Its power ranges 2.40787–22.7307 W and its manufacture 0.0002246–0.0005586 kg an hour.
    assert cloud.low == pytest.approx(0.00240787 * 0.098 + 0.0002246)
    assert cloud.high == pytest.approx(0.0227307 * 0.098 + 0.0005586)
    assert {here.label, cloud.label} == {"estimated"} and "c5.large" in cloud.source


def test_a_shared_device_used_by_more_members_than_the_day_holds_is_capped() -> None:
    factors = load()
    grid = electricity(factors, "FRA")
    # Five members a day on a laptop used 0.3 of the day each: capped at the whole day.
    busy = Device("salon", "laptop", Figure.estimated(5.0, "years", "default"),
                  users_per_day=Figure.measured(5.0, "members/day", "sessions"), shared=True)  # fmt: skip
    found = line(factors, busy, grid)
    assert found.energy.value == pytest.approx(75 * 8760 / 1000)  # 75 W all day: 657 kWh
    assert found.energy.label == ESTIMATED  # the power is Boavizta's, the members measured


def test_sharing_counts_distinct_members_per_day_and_hours_per_device() -> None:
    from datetime import datetime

    from hameau.footprint.inventory import use_by_device

    day = datetime(2026, 11, 20, 8, 0)
    hour = timedelta(hours=1)
    rows = [
        (1, 10, day, day + 2 * hour),  # alex twice on the 20th: one member that day
        (1, 10, day + 5 * hour, day + 6 * hour),
        (1, 11, day + 3 * hour, day + 4 * hour),  # sam on the 20th too
        (
            1,
            11,
            day + timedelta(days=1),
            day + timedelta(days=1, hours=1.5),
        ),  # sam alone on the 21st
        (2, 10, day, day + hour / 2),  # another device
    ]
    found = use_by_device(rows)
    salon = found[1]
    # By hand: 2 days; (20th: alex, sam) + (21st: sam) = 3 member-days: 1.5 members a day;
    # 2 + 1 + 1 + 1.5 = 5.5 hours, alex's 3 and sam's 2.5.
    assert (salon.days, salon.member_days, salon.members_per_day) == (2, 3, 1.5)
    assert salon.hours == pytest.approx(5.5)
    assert salon.hours_by_member == pytest.approx({10: 3.0, 11: 2.5})
    assert (found[2].days, found[2].hours) == (1, 0.5)


def test_the_real_lifetime_is_the_registry_s_or_the_age_reached_or_boavizta_s() -> None:
    from datetime import date

    from hameau.footprint.figures import MEASURED
    from hameau.footprint.inventory import lifetime

    factors, today = load(), date(2026, 12, 1)
    # Expected 8 years, 3 years old: the registry's 8, estimated.
    kept = lifetime(factors, "laptop", 8, date(2023, 12, 1), today)
    assert (kept.value, kept.label) == (8.0, ESTIMATED)
    # Expected 4 years but already 6 (2191 days / 365.25 = 6.0 years): its age, measured.
    older = lifetime(factors, "laptop", 4, date(2020, 12, 1), today)
    assert (older.value, older.label) == (6.0, MEASURED)
    # Nothing in the registry: Boavizta's default for a laptop, 5 years (boavizta.csv) ...
    assert lifetime(factors, "laptop", None, None, today).value == 5.0
    # ... unless it already lived longer than that: 7 years old.
    assert lifetime(factors, "laptop", None, date(2019, 12, 1), today).value == pytest.approx(
        7.0, abs=0.01
    )
