"""Prometheus metrics of one app instance, in its own registry (no process-wide state).
The collectors below are prometheus-client collectors (it calls their `collect`)."""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client.core import Metric


class _Gauges:
    """Gauges read from the database when scraped, never on a timer."""

    def __init__(self, read: Callable[[], dict[str, tuple[str, float]]]) -> None:
        self.read = read

    def collect(self) -> Iterable[Metric]:
        from prometheus_client.core import GaugeMetricFamily

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


class _DiskGauges:
    def __init__(self, folders: dict[str, Path]) -> None:
        self.folders = folders

    def collect(self) -> Iterable[Metric]:
        from prometheus_client.core import GaugeMetricFamily

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


# Upper bounds (seconds) of the request-duration histogram's buckets.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


class _Requests:
    """The requests counted by `Metrics.observe`, as Prometheus families when scraped."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        counts = CounterMetricFamily(
            "hameau_http_requests",
            "HTTP requests answered, by method, route and status.",
            labels=["method", "route", "status"],
        )
        for labels, count in self.metrics.counts.items():
            counts.add_metric(list(labels), count)
        yield counts
        durations = HistogramMetricFamily(
            "hameau_http_request_duration_seconds",
            "Time to answer HTTP requests, by route.",
            labels=["route"],
        )
        for route, (*per_bucket, total) in self.metrics.durations.items():
            cumulative = [sum(per_bucket[: index + 1]) for index in range(len(per_bucket))]
            bounds = [*(str(float(bound)) for bound in BUCKETS), "+Inf"]
            durations.add_metric(
                [route], list(zip(bounds, cumulative, strict=True)), sum_value=total
            )
        yield durations


class Metrics:
    """Requests counted in plain dicts; prometheus-client loads only when /metrics is
    scraped (about 1.3 MB the idle node does not carry otherwise)."""

    def __init__(
        self,
        read_gauges: Callable[[], dict[str, tuple[str, float]]],
        folders: dict[str, Path] | None = None,
    ) -> None:
        self.folders = folders or {}
        self.read_gauges = read_gauges
        self.counts: dict[tuple[str, str, str], int] = {}
        # Per route: the count in each bucket (the last one +Inf), then the sum of seconds.
        self.durations: dict[str, list[float]] = {}

    def low_space(self) -> DiskSpace | None:
        """The fullest filesystem of the node, if under `LOW_SPACE` free (for the pages)."""
        low = [space for space in disk_spaces(self.folders) if space.low]
        return min(low, key=lambda space: space.ratio) if low else None

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, str(status))
        self.counts[key] = self.counts.get(key, 0) + 1
        buckets = self.durations.setdefault(route, [0] * (len(BUCKETS) + 1) + [0.0])
        buckets[bisect_left(BUCKETS, seconds)] += 1
        buckets[-1] += seconds

    def render(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.process_collector import ProcessCollector

        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        for collector in (_Requests(self), _Gauges(self.read_gauges), _DiskGauges(self.folders)):
            registry.register(collector)
        return generate_latest(registry)
