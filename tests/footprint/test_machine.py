"""The node's power from Boavizta's model of its machine (footprint/machine.py): the CPU found
by the name /proc/cpuinfo gives, its TDP from the vendored CPU table, the RAM from
/proc/meminfo; values checked against sums made by hand from the vendored rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from hameau.footprint import machine, power
from hameau.footprint.factors import load
from hameau.footprint.figures import ESTIMATED
from hameau.node.datadir import Node
from hameau.node.db import transaction


@pytest.mark.parametrize(
    ("model", "name", "tdp"),
    [
        ("Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz", "Intel Core i5-8250U", 15.0),
        ("AMD Ryzen 5 3600 6-Core Processor", "AMD Ryzen 5 3600", 65.0),
        ("Intel(R) Pentium(R) Silver J5005 CPU @ 1.50GHz", "Intel Pentium Silver J5005", 10.0),
        ("Intel(R) Core(TM) i5-9400 CPU @ 2.90GHz", "Intel Core i5-9400", 65.0),
    ],
)
def test_a_cpu_is_found_by_the_name_the_kernel_gives(model: str, name: str, tdp: float) -> None:
    found = machine.find_cpu(model, machine.specs())
    assert found is not None and (found.name, found.tdp) == (name, tdp)


@pytest.mark.parametrize("model", ["AMD EPYC", "QEMU Virtual CPU version 2.5+", "Intel Core i5"])
def test_a_cpu_not_named_precisely_is_not_guessed(model: str) -> None:
    assert machine.find_cpu(model, machine.specs()) is None


def fake_proc(tmp_path: Path, cpuinfo: str) -> Path:
    proc = tmp_path / "proc"
    (proc / "sys" / "kernel" / "random").mkdir(parents=True)
    (proc / "sys" / "kernel" / "random" / "boot_id").write_text("boot-1\n")
    # 2 CPUs; user 200, system 100, idle 600, iowait 100 ticks: 30 % busy.
    (proc / "stat").write_text("cpu  200 0 100 600 100 0 0 0 0 0\ncpu0 1 0 0 0\ncpu1 1 0 0 0\n")
    (proc / "uptime").write_text("5.00 8.00\n")
    (proc / "cpuinfo").write_text(cpuinfo)
    (proc / "meminfo").write_text("MemTotal:        8388608 kB\nMemFree:  1 kB\n")
    return proc


def test_a_known_cpu_gives_the_power_of_boaviztas_model_at_its_load(
    node: Node, tmp_path: Path
) -> None:
    info = (
        "processor\t: 0\nmodel name\t: Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz\nphysical id\t: 0\n"
    )
    proc = fake_proc(tmp_path, info * 2)
    with transaction(node.sessions) as db:
        found = power.node_power(db, load(), "laptop", tmp_path / "none", proc)
    # By hand, from boavizta.csv's power rows: the CPU at 30 % load draws 0.32 + (0.75 -
    # 0.32) × (30 - 10) / 40 = 0.535 of its 15 W TDP = 8.025 W; 8 GB of RAM is one DIMM of
    # 3 + 0.055 × 8 = 3.44 W at full load, × (0.7 + 0.3 × 0.3) = 2.7176 W; the rest of the
    # machine adds 33 % (20–60 %): 10.7426 × 1.33 = 14.29 W (12.89–17.19).
    assert (found.chosen.value, found.chosen.low, found.chosen.high) == (14.29, 12.89, 17.19)
    assert found.chosen.label == ESTIMATED
    assert "Intel Core i5-8250U (TDP 15 W" in found.chosen.source
    assert "30% of 2 CPUs" in found.chosen.source and "disks not counted" in found.chosen.source
    # An app's CPU second is priced at the node's power shared over its CPUs.
    assert found.per_cpu.value == pytest.approx(14.29 / 2)


def test_an_unknown_cpu_falls_back_to_the_class_range_and_says_why(
    node: Node, tmp_path: Path
) -> None:
    proc = fake_proc(tmp_path, "processor\t: 0\nmodel name\t: AMD EPYC\n")
    with transaction(node.sessions) as db:
        found = power.node_power(db, load(), "laptop", tmp_path / "none", proc)
    # Boavizta's laptop: 50 to 100 W; 30 % of the way: 65 W.
    assert (found.chosen.value, found.chosen.low, found.chosen.high) == (65.0, 50.0, 100.0)
    assert "CPU 'AMD EPYC' not in Boavizta's CPU table" in found.chosen.source


def test_a_cpu_named_by_the_admin_gives_its_power_by_hand(node: Node, tmp_path: Path) -> None:
    # A virtual machine: the kernel says "AMD EPYC" and counts two virtual sockets.
    info = "processor\t: {0}\nmodel name\t: AMD EPYC\nphysical id\t: {0}\n"
    proc = fake_proc(tmp_path, info.format(0) + info.format(1))
    with transaction(node.sessions) as db:
        found = power.node_power(db, load(), "laptop", tmp_path / "none", proc,
                                 cpu_name="Intel Core i5-8250U", memory_gb=16)  # fmt: skip
    # By hand: the named CPU counted once (one package, not the two virtual sockets) at 30 %
    # load draws 0.535 × 15 W = 8.025 W; the 16 GB named are one DIMM of 3 + 0.055 × 16 =
    # 3.88 W at full load, × (0.7 + 0.3 × 0.3) = 3.0652 W; × 1.33 (1.2–1.6) for the rest of
    # the machine: 11.0902 × 1.33 = 14.75 W (13.31–17.74).
    assert (found.chosen.value, found.chosen.low, found.chosen.high) == (14.75, 13.31, 17.74)
    assert found.chosen.label == ESTIMATED
    assert "CPU named by the admin: Intel Core i5-8250U (TDP 15 W, data/cpu_specs.csv)" in (
        found.chosen.source
    )
    assert "16.0 GB of RAM (named by the admin)" in found.chosen.source


def test_a_cpu_name_not_in_the_table_is_refused_with_names_close_to_it(node: Node) -> None:
    from hameau.errors import BadRequest
    from hameau.footprint import inventory

    with transaction(node.sessions) as db:
        with pytest.raises(BadRequest) as refused:
            inventory.set_node(db, cpu="AMD EPYC")
        assert "such as AMD EPYC 7232P" in str(refused.value)
        # The table's own spelling is kept, whatever the case typed; "" forgets it.
        assert inventory.set_node(db, cpu="amd  epyc 7282").cpu == "AMD EPYC 7282"
        assert inventory.set_node(db, cpu="").cpu is None
