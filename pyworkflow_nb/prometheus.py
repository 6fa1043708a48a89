"""The engine's metrics for Prometheus, through ``prometheus_client`` (the ``prometheus`` extra).

``pw.serve_metrics()`` serves them over HTTP for a scrape; :func:`register` adds them to a
registry of your own (for an app that already serves one). Each scrape reads the engine that
is open at that moment, so the series follow ``pw.configure`` (counters restart from 0 with a
new engine, which Prometheus reads as a counter reset).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .engine.metrics import FAMILIES, Sample
from .errors import InvalidInput, PyWorkflowError
from .runtime import runtime

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

__all__ = ["MetricsServer", "register", "serve_metrics"]


def _client() -> Any:
    try:
        import prometheus_client
        import prometheus_client.core  # the metric families a collector yields
    except ImportError:
        raise PyWorkflowError(
            "Prometheus metrics need prometheus_client: pip install 'pyworkflow_nb[prometheus]'"
        ) from None
    return prometheus_client


def _current_samples() -> list[Sample]:
    engine = runtime.engine
    if engine is None or engine.closing or engine.loop.is_closed():
        return []
    return engine.on_loop(engine.metric_samples)


def _le(upper: float) -> str:
    return "+Inf" if math.isinf(upper) else repr(upper)


class _Collector:
    """A ``prometheus_client`` collector reading the open engine at each scrape."""

    def describe(self) -> Iterator[Any]:
        yield from self._families({})

    def collect(self) -> Iterator[Any]:
        by_name: dict[str, list[Sample]] = {}
        for sample in _current_samples():
            by_name.setdefault(sample.name, []).append(sample)
        yield from self._families(by_name)

    @staticmethod
    def _families(samples: dict[str, list[Sample]]) -> Iterator[Any]:
        core = _client().core
        kinds = {"counter": core.CounterMetricFamily, "gauge": core.GaugeMetricFamily,
                 "histogram": core.HistogramMetricFamily}
        for family in FAMILIES:
            metric = kinds[family.kind](family.name, family.help, labels=list(family.labels))
            for s in samples.get(family.name, ()):
                values = [s.labels[label] for label in family.labels]
                if family.kind == "histogram":
                    metric.add_metric(values, [(_le(le), n) for le, n in s.buckets], s.sum)
                else:
                    metric.add_metric(values, s.value)
            yield metric


_registered: dict[int, _Collector] = {}


def register(registry: Any = None) -> Any:
    """Add the engine's metrics to ``registry`` (default: ``prometheus_client.REGISTRY``)
    once; returns the collector."""
    client = _client()
    registry = client.REGISTRY if registry is None else registry
    collector = _registered.get(id(registry))
    if collector is None:
        collector = _registered[id(registry)] = _Collector()
        registry.register(collector)
    return collector


@dataclass
class MetricsServer:
    """The HTTP endpoint ``pw.serve_metrics`` started; :meth:`close` stops it."""

    url: str
    port: int
    _server: WSGIServer

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve_metrics(port: int = 9464, addr: str = "127.0.0.1") -> MetricsServer:
    """Serve the engine's metrics for Prometheus at ``http://addr:port/metrics`` from a
    background thread (``port=0`` picks a free port). Needs the ``prometheus`` extra."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidInput(f"serve_metrics(port=...) must be a port number 0-65535, got "
                           f"{port!r}")
    client = _client()
    register()
    try:
        server, _ = client.start_http_server(port, addr=addr)
    except OSError as exc:
        raise InvalidInput(f"cannot serve metrics on {addr}:{port}: {exc.strerror or exc}; "
                           "choose another port (port=0 picks a free one)") from None
    bound = server.server_port
    return MetricsServer(f"http://{addr}:{bound}/metrics", bound, server)
