"""``pw.metrics()`` and ``pw.on_metric()``: the engine's counters and histograms, as a table
in a notebook and as plain values in code.

The names and labels are listed in ``pyworkflow_nb.engine.metrics.FAMILIES`` and in the README;
``pyworkflow_nb.prometheus`` exposes the same series to Prometheus.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .displays import views
from .engine.metrics import FAMILIES, LISTENERS, MetricListener, Sample
from .errors import InvalidInput
from .runtime import runtime

__all__ = ["Metrics", "metrics", "on_metric"]

_PREFIX = "pyworkflow_nb_"
_NAMES = {f.name for f in FAMILIES}
_COLUMNS = ("metric", "labels", "value", "mean", "p50", "p99", "max")


def _full_name(name: str) -> str:
    full = name if name.startswith(_PREFIX) else _PREFIX + name
    if full not in _NAMES:
        known = ", ".join(sorted(n.removeprefix(_PREFIX) for n in _NAMES))
        raise InvalidInput(f"no metric named {name!r}; the metrics are: {known}")
    return full


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value * 1000:.3g} ms" if value < 1 else f"{value:.3g} s"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


class Metrics(list[Sample]):
    """The engine's metrics at one moment: one :class:`Sample` per labelled series.

    Shows as a table in a notebook (histograms with their mean, estimated p50 and p99, and
    max); :meth:`value` reads one number, :meth:`rows` and :meth:`df` give the raw values.
    """

    def value(self, name: str, **labels: str) -> float:
        """The total of metric ``name`` (with or without its ``pyworkflow_nb_`` prefix) over
        the series whose labels include ``labels``: a counter's or gauge's value, or a
        histogram's number of observations. 0 when no such series has a value yet."""
        full = _full_name(name)
        return sum(s.value for s in self if s.name == full
                   and all(s.labels.get(k) == v for k, v in labels.items()))

    def rows(self) -> list[dict[str, Any]]:
        """One dict per series: metric, kind, labels, value and, for histograms (seconds),
        sum, mean, p50, p99 and max."""
        rows = []
        for s in self:
            row: dict[str, Any] = {"metric": s.name, "kind": s.kind, "labels": s.labels,
                                   "value": s.value}
            if s.kind == "histogram":
                row.update(sum=s.sum, mean=s.mean, p50=s.quantile(0.5), p99=s.quantile(0.99),
                           max=s.max)
            rows.append(row)
        return rows

    def df(self) -> Any:
        """The :meth:`rows` as a pandas DataFrame (needs pandas)."""
        import pandas

        return pandas.DataFrame(self.rows())

    def _table(self) -> list[tuple[str, ...]]:
        table: list[tuple[str, ...]] = []
        for s in self:
            labels = ", ".join(f"{k}={v}" for k, v in s.labels.items())
            if s.kind == "histogram":
                table.append((s.name.removeprefix(_PREFIX), labels, _number(s.value),
                              _seconds(s.mean), _seconds(s.quantile(0.5)),
                              _seconds(s.quantile(0.99)), _seconds(s.max)))
            else:
                table.append((s.name.removeprefix(_PREFIX), labels, _number(s.value),
                              "", "", "", ""))
        return table

    def __str__(self) -> str:
        if not self:
            return "no metrics yet: nothing has run in this process"
        return str(views["text_table"](_COLUMNS, self._table()))

    def _repr_html_(self) -> str:
        caption = "metrics of this process's engine (histograms: observations, then latency)"
        return str(views["html_table"](_COLUMNS, self._table(), caption=caption))

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


def metrics() -> Metrics:
    """The engine's counters, gauges and latency histograms now (since its store opened)."""
    engine = runtime.ensure()
    return Metrics(engine.on_loop(engine.metric_samples))


def on_metric(listener: MetricListener) -> Callable[[], None]:
    """Call ``listener(name, value, labels)`` at each change of a metric: a counter's
    increment or a histogram's observation (seconds). Returns the call that removes it.

    It runs on the engine's thread between two steps of the engine, so it must be quick and
    must not block (hand the value to OpenTelemetry, statsd, a queue...). It stays
    registered across ``pw.configure`` and ``pw.shutdown``.
    """
    if not callable(listener):
        raise InvalidInput(f"on_metric needs a function (name, value, labels), got "
                           f"{listener!r}")
    LISTENERS.append(listener)

    def remove() -> None:
        if listener in LISTENERS:
            LISTENERS.remove(listener)

    return remove
