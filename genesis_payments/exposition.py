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
    """Text exposition with per-series caches (not thread-safe: callers serialise).

    Each series keeps its `name{labels} ` prefix (escaped once) and its last rendered line; a scrape
    re-formats only the values that changed.
    """

    def __init__(self) -> None:
        self._lines: dict[str, dict[tuple[str, ...], tuple[float | int, str]]] = {}
        self._prefixes: dict[str, dict[tuple[str, ...], str]] = {}

    def render(self, families: Iterable[Family]) -> bytes:
        out: list[str] = []
        for family in families:
            out.append(f"# HELP {family.name} {_escape_help(family.help)}\n# TYPE {family.name} {family.type}\n")
            old = self._lines.get(family.name, {})
            prefixes = self._prefixes.setdefault(family.name, {})
            new: dict[tuple[str, ...], tuple[float | int, str]] = {}
            for values, value in family.samples:
                cached = old.get(values)
                if cached is None or cached[0] != value:
                    prefix = prefixes.get(values)
                    if prefix is None:
                        prefix = prefixes[values] = _prefix(family, values)
                    cached = (value, f"{prefix}{_format_value(value)}\n")
                new[values] = cached
                out.append(cached[1])
            self._lines[family.name] = new
            if len(prefixes) > 2 * len(new) + 64:  # series that disappeared (a rescan): let them go
                self._prefixes[family.name] = {k: v for k, v in prefixes.items() if k in new}
        return "".join(out).encode()


def _prefix(family: Family, values: tuple[str, ...]) -> str:
    if not values:
        return f"{family.name} "
    labels = ",".join(f'{name}="{_escape_label_value(v)}"' for name, v in zip(family.labels, values, strict=True))
    return f"{family.name}{{{labels}}} "


def _format_value(value: float | int) -> str:
    if type(value) is int:
        return str(value)  # counts: exact integers, no float round trip
    return floatToGoString(value)
