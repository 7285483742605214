"""Metric families as plain data, turned into prometheus-client families or into cached text.

`Family` is what the collector computes on a scrape. `metric_families` gives prometheus-client
`Counter/GaugeMetricFamily` objects for any registry; `TextRenderer` writes the Prometheus text
format (0.0.4) itself, keeping each series' rendered line while its value is unchanged, so a scrape
of thousands of series costs a dictionary lookup per series instead of label validation and
escaping per sample.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.utils import floatToGoString

Sample = tuple[tuple[str, ...], float | int]


@dataclass(frozen=True)
class Family:
    name: str  # as exposed; counters end in `_total`
    type: str  # "counter" | "gauge"
    help: str
    labels: tuple[str, ...]
    samples: list[Sample]


def metric_families(families: Iterable[Family]) -> list[Metric]:
    """prometheus-client families (a counter's name is given without `_total`, which it adds back)."""
    out: list[Metric] = []
    for family in families:
        if family.type == "counter":
            metric = CounterMetricFamily(family.name.removesuffix("_total"), family.help, labels=family.labels)
        else:
            metric = GaugeMetricFamily(family.name, family.help, labels=family.labels)
        for values, value in family.samples:
            metric.add_metric(list(values), value)
        out.append(metric)
    return out


def _escape_label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


class TextRenderer:
    """Text exposition with a per-series line cache (not thread-safe: callers serialise)."""

    def __init__(self) -> None:
        self._lines: dict[str, dict[tuple[str, ...], tuple[float | int, str]]] = {}

    def render(self, families: Iterable[Family]) -> bytes:
        out: list[str] = []
        for family in families:
            out.append(f"# HELP {family.name} {_escape_help(family.help)}\n# TYPE {family.name} {family.type}\n")
            old = self._lines.get(family.name, {})
            new: dict[tuple[str, ...], tuple[float | int, str]] = {}
            for values, value in family.samples:
                cached = old.get(values)
                if cached is None or cached[0] != value:
                    cached = (value, self._line(family, values, value))
                new[values] = cached
                out.append(cached[1])
            self._lines[family.name] = new  # series that disappeared (a rescan) are dropped
        return "".join(out).encode()

    @staticmethod
    def _line(family: Family, values: tuple[str, ...], value: float | int) -> str:
        if values:
            labels = ",".join(
                f'{name}="{_escape_label_value(v)}"' for name, v in zip(family.labels, values, strict=True)
            )
            return f"{family.name}{{{labels}}} {floatToGoString(value)}\n"
        return f"{family.name} {floatToGoString(value)}\n"
