"""The SDK's metrics recorders, fed by this engine through ``pw.on_metric``.

``Worker(metrics=...)`` (or ``Client(metrics=...)``) hands each ended activity attempt and
each ended workflow run to the recorder under the SDK's names:
``durable_workflow_worker_tasks`` (counter) and ``durable_workflow_worker_task_duration_seconds``
(histogram, activities only), tagged ``task_kind``, ``task_queue`` and ``outcome``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ...errors import PyWorkflowError
from ...telemetry import on_metric

TASKS = "durable_workflow_worker_tasks"
TASK_DURATION = "durable_workflow_worker_task_duration_seconds"


class MetricsRecorder(Protocol):
    def increment(self, name: str, value: float = 1.0,
                  tags: dict[str, str] | None = None) -> None: ...

    def record(self, name: str, value: float, tags: dict[str, str] | None = None) -> None: ...


def _key(name: str, tags: dict[str, str] | None) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted((tags or {}).items()))


class InMemoryMetrics:
    """Keeps every increment and recorded value, for tests and custom exporters."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.histograms: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}

    def increment(self, name: str, value: float = 1.0,
                  tags: dict[str, str] | None = None) -> None:
        key = _key(name, tags)
        self.counters[key] = self.counters.get(key, 0.0) + value

    def record(self, name: str, value: float, tags: dict[str, str] | None = None) -> None:
        self.histograms.setdefault(_key(name, tags), []).append(value)

    def counter(self, name: str, **tags: str) -> float:
        """The total of counter ``name`` over the series whose tags include ``tags``."""
        return sum(v for (n, t), v in self.counters.items()
                   if n == name and tags.items() <= dict(t).items())

    def values(self, name: str, **tags: str) -> list[float]:
        """Every value recorded for ``name`` in the series whose tags include ``tags``."""
        return [v for (n, t), vs in self.histograms.items()
                if n == name and tags.items() <= dict(t).items() for v in vs]


class PrometheusMetrics:
    """Records into ``prometheus_client`` counters and histograms (the ``prometheus`` extra)."""

    def __init__(self, registry: Any = None) -> None:
        try:
            import prometheus_client
        except ImportError:
            raise PyWorkflowError("PrometheusMetrics needs prometheus_client: pip install "
                                  "'pyworkflow_nb[prometheus]'") from None
        self._client = prometheus_client
        self._registry = registry if registry is not None else prometheus_client.REGISTRY
        self._metrics: dict[str, Any] = {}

    def _metric(self, kind: str, name: str, tags: dict[str, str] | None) -> Any:
        metric = self._metrics.get(name)
        if metric is None:
            factory = self._client.Counter if kind == "counter" else self._client.Histogram
            metric = self._metrics[name] = factory(name, name.replace("_", " "),
                                                   sorted(tags or {}), registry=self._registry)
        return metric.labels(**tags) if tags else metric

    def increment(self, name: str, value: float = 1.0,
                  tags: dict[str, str] | None = None) -> None:
        self._metric("counter", name, tags).inc(value)

    def record(self, name: str, value: float, tags: dict[str, str] | None = None) -> None:
        self._metric("histogram", name, tags).observe(value)


def feed(recorder: MetricsRecorder, task_queue: str) -> Callable[[], None]:
    """Hand the engine's step and run metrics to ``recorder``; returns the call that stops it."""
    failed: set[tuple[str, str]] = set()  # an attempt's failure comes just before its duration

    def translate(name: str, value: float, labels: Mapping[str, str]) -> None:
        if name == "pyworkflow_nb_step_failures_total":
            failed.add((labels["workflow"], labels["step"]))
        elif name == "pyworkflow_nb_step_duration_seconds":
            key = (labels["workflow"], labels["step"])
            outcome = "failed" if key in failed else "completed"
            failed.discard(key)
            tags = {"task_kind": "activity", "task_queue": task_queue, "outcome": outcome}
            recorder.increment(TASKS, 1.0, tags)
            recorder.record(TASK_DURATION, value, tags)
        elif name == "pyworkflow_nb_runs_finished_total":
            recorder.increment(TASKS, value, {"task_kind": "workflow", "task_queue": task_queue,
                                              "outcome": labels["status"]})

    return on_metric(translate)
