"""Counters and latency histograms of one engine, mostly folded from the events it records.

Everything is counted on the engine's loop thread, a few dict operations per event; readers
on other threads take a :meth:`EngineMetrics.samples` snapshot through ``Engine.on_loop``.
The names follow Prometheus conventions (``_total`` counters, ``_seconds`` histograms with
cumulative buckets) so that exporters pass them on unchanged.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ..history import vocabulary as ev
from ..store import EventRow

MetricListener = Callable[[str, float, Mapping[str, str]], None]
"""Called with (metric name, increment or observed value, labels) at each change."""

LISTENERS: list[MetricListener] = []
"""The listeners of every engine of the process (``pw.on_metric``), kept across engines."""

_log = logging.getLogger("pyworkflow_nb.metrics")

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
           10.0, 30.0, 60.0, 300.0, 3600.0, math.inf)
"""Upper bounds (seconds) of the histogram buckets: sub-millisecond commits to hour-long steps."""


@dataclass(frozen=True, eq=False)  # hashed by identity: it keys every count
class Family:
    """One metric: its name, kind, help text and label names."""

    name: str
    kind: str  # "counter", "histogram" or "gauge"
    help: str
    labels: tuple[str, ...] = ()


RUNS_STARTED = Family("pyworkflow_nb_runs_started_total", "counter",
                      "Runs begun in this process: started, restarted, forked or retried.",
                      ("workflow",))
RUNS_RECOVERED = Family("pyworkflow_nb_runs_recovered_total", "counter",
                        "Unfinished runs loaded from the store and resumed by this process.",
                        ("workflow",))
RUNS_FINISHED = Family("pyworkflow_nb_runs_finished_total", "counter",
                       "Runs that ended in this process, by final status (completed, failed, "
                       "cancelled, terminated, continued).", ("workflow", "status"))
RUN_DURATION = Family("pyworkflow_nb_run_duration_seconds", "histogram",
                      "From a run's start to its end, on the engine's clock.", ("workflow",))
STEP_ATTEMPTS = Family("pyworkflow_nb_step_attempts_total", "counter",
                       "Step attempts begun (a retry is one more attempt).",
                       ("workflow", "step"))
STEP_FAILURES = Family("pyworkflow_nb_step_failures_total", "counter",
                       "Step attempts that raised (retried or final).", ("workflow", "step"))
STEP_DURATION = Family("pyworkflow_nb_step_duration_seconds", "histogram",
                       "Each ended step attempt, from its start to its result or error, on "
                       "the engine's clock.", ("workflow", "step"))
COMMITS = Family("pyworkflow_nb_commit_duration_seconds", "histogram",
                 "Each group commit of the store (wall time).")
EVENTS_COMMITTED = Family("pyworkflow_nb_events_committed_total", "counter",
                          "Event rows made durable by the group commits.")
TIMER_LAG = Family("pyworkflow_nb_timer_lag_seconds", "histogram",
                   "How late each durable timer fired after its deadline (real clock only).")
RUNS_LIVE = Family("pyworkflow_nb_runs_live", "gauge",
                   "Unfinished runs this engine holds now, by status.", ("status",))
TIMERS_PENDING = Family("pyworkflow_nb_timers_pending", "gauge",
                        "Durable timers waiting for their deadline now.")

FAMILIES: tuple[Family, ...] = (RUNS_STARTED, RUNS_RECOVERED, RUNS_FINISHED, RUN_DURATION,
                                STEP_ATTEMPTS, STEP_FAILURES, STEP_DURATION, COMMITS,
                                EVENTS_COMMITTED, TIMER_LAG, RUNS_LIVE, TIMERS_PENDING)
"""Every metric an engine reports, in the order tables list them."""

_FINAL_STATUS = {event: status for status, event in ev.FINAL_EVENTS.items()}
_BEGUN = frozenset({ev.WORKFLOW_STARTED, ev.WORKFLOW_FORKED, ev.WORKFLOW_RETRIED})
_STEP_STARTED = ev.STEP_STARTED
_STEP_FAILED = ev.STEP_FAILED
_STEP_CANCELLED = ev.STEP_CANCELLED
_STEP_ENDED = frozenset({ev.STEP_COMPLETED, _STEP_FAILED, _STEP_CANCELLED})
_COUNTED = _BEGUN | _FINAL_STATUS.keys() | _STEP_ENDED | {_STEP_STARTED}


class Histogram:
    """Counts per bucket plus count, sum and max: constant memory, whatever is observed."""

    __slots__ = ("count", "counts", "max", "sum")

    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.count = 0
        self.sum = 0.0
        self.max = 0.0

    def observe(self, value: float) -> None:
        if value < 0.0:
            value = 0.0
        self.counts[bisect_left(BUCKETS, value)] += 1
        self.count += 1
        self.sum += value
        if value > self.max:
            self.max = value


@dataclass(frozen=True)
class Sample:
    """One labelled series at one moment.

    ``value`` is a counter's or gauge's value, or a histogram's count of observations;
    histograms also carry ``sum``, ``max`` and the cumulative ``buckets`` ``(le, count)``.
    """

    name: str
    kind: str
    labels: dict[str, str]
    value: float
    sum: float = 0.0
    max: float = 0.0
    buckets: tuple[tuple[float, int], ...] = field(default=())

    @property
    def mean(self) -> float | None:
        return self.sum / self.value if self.kind == "histogram" and self.value else None

    def quantile(self, q: float) -> float | None:
        """An estimate of the ``q`` quantile of a histogram: linear within its bucket (as
        Prometheus's ``histogram_quantile``), never above the largest value observed."""
        if self.kind != "histogram" or not self.value:
            return None
        rank = q * self.value
        lower, below = 0.0, 0
        for upper, cumulative in self.buckets:
            if cumulative >= rank and cumulative > below:
                if math.isinf(upper):
                    return self.max
                share = (rank - below) / (cumulative - below)
                return min(lower + (upper - lower) * share, self.max)
            lower, below = upper, cumulative
        return self.max


class EngineMetrics:
    """The metrics of one engine since it opened its store."""

    def __init__(self) -> None:
        self._counters: dict[tuple[Family, tuple[str, ...]], float] = {}
        self._histograms: dict[tuple[Family, tuple[str, ...]], Histogram] = {}
        self._open_steps: dict[str, dict[str, float]] = {}  # run id -> step id -> start
        self.listeners = LISTENERS

    # -- counting --------------------------------------------------------------------------------

    def inc(self, family: Family, *labels: str, by: float = 1) -> None:
        key = (family, labels)
        self._counters[key] = self._counters.get(key, 0) + by
        if self.listeners:
            self._tell(family, by, labels)

    def observe(self, family: Family, value: float, *labels: str) -> None:
        key = (family, labels)
        histogram = self._histograms.get(key)
        if histogram is None:
            histogram = self._histograms[key] = Histogram()
        histogram.observe(value)
        if self.listeners:
            self._tell(family, value, labels)

    def _tell(self, family: Family, value: float, labels: tuple[str, ...]) -> None:
        named = dict(zip(family.labels, labels, strict=True))
        for listener in list(self.listeners):
            try:
                listener(family.name, value, named)
            except Exception:  # a broken listener must not break the run that was counted
                _log.exception("the metrics listener %r failed on %s", listener, family.name)

    # -- what the engine reports -----------------------------------------------------------------

    def event(self, event: EventRow, workflow: str, started_at: float | None) -> None:
        """Fold one event just recorded for a run of ``workflow`` (started at ``started_at``)."""
        run_id, _, ts, type_, step, _, _ = event
        if type_ not in _COUNTED:
            return
        if type_ == _STEP_STARTED and step is not None:
            self.inc(STEP_ATTEMPTS, workflow, step.rpartition("#")[0])
            self._open_steps.setdefault(run_id, {})[step] = ts
        elif type_ in _STEP_ENDED and step:
            name = step.rpartition("#")[0]
            began = self._open_steps.get(run_id, {}).pop(step, None)
            if type_ == _STEP_FAILED:
                self.inc(STEP_FAILURES, workflow, name)
            if began is not None and type_ != _STEP_CANCELLED:
                self.observe(STEP_DURATION, ts - began, workflow, name)
        elif type_ in _BEGUN:
            self.inc(RUNS_STARTED, workflow)
        elif type_ in _FINAL_STATUS:
            self._open_steps.pop(run_id, None)
            self.inc(RUNS_FINISHED, workflow, _FINAL_STATUS[type_])
            if started_at is not None:
                self.observe(RUN_DURATION, ts - started_at, workflow)

    def recovered(self, workflow: str) -> None:
        self.inc(RUNS_RECOVERED, workflow)

    def committed(self, seconds: float, events: int) -> None:
        self.observe(COMMITS, seconds)
        if events:
            self.inc(EVENTS_COMMITTED, by=events)

    def timer_lag(self, seconds: float) -> None:
        self.observe(TIMER_LAG, seconds)

    # -- reading ---------------------------------------------------------------------------------

    def samples(self, gauges: Iterable[tuple[Family, tuple[str, ...], float]] = ()
                ) -> list[Sample]:
        """Every series now, families in :data:`FAMILIES` order, labels sorted within each."""
        by_family: dict[Family, list[Sample]] = {}
        for (family, labels), value in self._counters.items():
            by_family.setdefault(family, []).append(
                Sample(family.name, family.kind, dict(zip(family.labels, labels, strict=True)),
                       value))
        for (family, labels), h in self._histograms.items():
            cumulative, total = [], 0
            for upper, count in zip(BUCKETS, h.counts, strict=True):
                total += count
                cumulative.append((upper, total))
            by_family.setdefault(family, []).append(
                Sample(family.name, family.kind, dict(zip(family.labels, labels, strict=True)),
                       h.count, h.sum, h.max, tuple(cumulative)))
        for family, labels, value in gauges:
            by_family.setdefault(family, []).append(
                Sample(family.name, family.kind, dict(zip(family.labels, labels, strict=True)),
                       value))
        return [s for f in FAMILIES
                for s in sorted(by_family.get(f, []), key=lambda s: tuple(s.labels.values()))]
