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
    # False: `samples` holds only the series changed since the renderer's previous call (the others
    # are as they were). Only `TextRenderer` accepts such a family.
    complete: bool = True


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

    Each series keeps its rendered line, and each family its rendered text; a complete family
    re-formats only the values that changed, and a family given as changes only (`complete=False`)
    costs only those changes, so a scrape of thousands of series costs what changed since the last.
    """

    def __init__(self) -> None:
        # family → series labels → (value, line, length of the line's `name{labels} ` prefix)
        self._lines: dict[str, dict[tuple[str, ...], tuple[float | int, str, int]]] = {}
        self._texts: dict[str, str] = {}

    def render(self, families: Iterable[Family]) -> bytes:
        return "".join(self._family_text(family) for family in families).encode()

    def _family_text(self, family: Family) -> str:
        old = self._lines.get(family.name)
        if not family.complete and old is not None:
            if not family.samples and family.name in self._texts:
                return self._texts[family.name]
            lines = old  # updated in place: the unchanged series keep their place and their line
        else:
            lines = {}
        for values, value in family.samples:
            cached = (old or {}).get(values)
            if cached is None:
                prefix = _prefix(family, values)
                cached = (value, f"{prefix}{_format_value(value)}\n", len(prefix))
            elif cached[0] != value:
                prefix = cached[1][: cached[2]]
                cached = (value, f"{prefix}{_format_value(value)}\n", cached[2])
            lines[values] = cached
        self._lines[family.name] = lines
        header = f"# HELP {family.name} {_escape_help(family.help)}\n# TYPE {family.name} {family.type}\n"
        text = self._texts[family.name] = header + "".join(line for _, line, _ in lines.values())
        return text


def _prefix(family: Family, values: tuple[str, ...]) -> str:
    if not values:
        return f"{family.name} "
    labels = ",".join(f'{name}="{_escape_label_value(v)}"' for name, v in zip(family.labels, values, strict=True))
    return f"{family.name}{{{labels}}} "


def _format_value(value: float | int) -> str:
    if type(value) is int:
        return str(value)  # counts: exact integers, no float round trip
    return floatToGoString(value)
