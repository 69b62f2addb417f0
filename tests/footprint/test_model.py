"""The model's rules on their own (pure functions), against values computed by hand from the
vendored data (boaviztapi 2.5.0)."""

from __future__ import annotations

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
