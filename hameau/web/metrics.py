"""Prometheus metrics of one app instance, in its own registry (no process-wide state)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector


class _Gauges(Collector):
    """Gauges read from the database when scraped, never on a timer."""

    def __init__(self, read: Callable[[], dict[str, tuple[str, float]]]) -> None:
        self.read = read

    def collect(self) -> Iterable[Metric]:
        for name, (help_text, value) in self.read().items():
            yield GaugeMetricFamily(name, help_text, value=value)


LOW_SPACE = 0.10  # admins are warned on every page under this share of free space


@dataclass(frozen=True)
class DiskSpace:
    """Space on the filesystem holding a folder, read when asked (os.statvfs)."""

    label: str
    free: int  # bytes an unprivileged process may still write
    size: int

    @property
    def ratio(self) -> float:
        return self.free / self.size if self.size else 0.0

    @property
    def low(self) -> bool:
        return self.ratio < LOW_SPACE


def disk_spaces(folders: dict[str, Path]) -> list[DiskSpace]:
    """One answer per filesystem among ``folders`` (the data dir, the content store …)."""
    found: dict[int, DiskSpace] = {}
    for label, folder in folders.items():
        try:
            device = os.stat(folder).st_dev
            stats = os.statvfs(folder)
        except OSError:
            continue
        if device not in found:
            found[device] = DiskSpace(
                label, stats.f_bavail * stats.f_frsize, stats.f_blocks * stats.f_frsize
            )
    return list(found.values())


class _DiskGauges(Collector):
    def __init__(self, folders: dict[str, Path]) -> None:
        self.folders = folders

    def collect(self) -> Iterable[Metric]:
        spaces = disk_spaces(self.folders)
        for name, help_text, value in (
            ("hameau_disk_free_bytes", "Free bytes on the filesystem of a folder.", "free"),
            ("hameau_disk_size_bytes", "Size in bytes of the filesystem of a folder.", "size"),
            ("hameau_disk_free_ratio", "Share of the filesystem of a folder still free.", "ratio"),
        ):
            family = GaugeMetricFamily(name, help_text, labels=["folder"])
            for space in spaces:
                family.add_metric([space.label], float(getattr(space, value)))
            yield family


class Metrics:
    def __init__(
        self,
        read_gauges: Callable[[], dict[str, tuple[str, float]]],
        folders: dict[str, Path] | None = None,
    ) -> None:
        self.folders = folders or {}
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "hameau_http_requests",
            "HTTP requests answered, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "hameau_http_request_duration_seconds",
            "Time to answer HTTP requests, by route.",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=self.registry,
        )
        self.registry.register(_Gauges(read_gauges))
        self.registry.register(_DiskGauges(self.folders))

    def low_space(self) -> DiskSpace | None:
        """The fullest filesystem of the node, if under `LOW_SPACE` free (for the pages)."""
        low = [space for space in disk_spaces(self.folders) if space.low]
        return min(low, key=lambda space: space.ratio) if low else None

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
