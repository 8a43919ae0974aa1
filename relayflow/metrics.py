"""Prometheus metrics: every metric name is defined here, and nowhere else.

Each ``Metrics`` owns its own ``CollectorRegistry`` (not the process-wide default), so several
apps in one process, as in the tests, do not collide. Labels stay bounded: executions by status
and mode, node runs by node TYPE (never by node or workflow name), webhooks by status class.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

EXECUTIONS_TOTAL = "relayflow_executions_total"
EXECUTION_DURATION = "relayflow_execution_duration_seconds"
NODE_DURATION = "relayflow_node_duration_seconds"
WEBHOOK_DURATION = "relayflow_webhook_request_duration_seconds"
EXECUTIONS_IN_FLIGHT = "relayflow_executions_in_flight"
BUILD_INFO = "relayflow_build_info"
# HTTP Request circuit breakers per host (relayflow/http_session.py): 0 closed, 1 open, 2 half-open
HTTP_CIRCUIT_STATE = "relayflow_http_circuit_state"
HTTP_CIRCUIT_OPENS = "relayflow_http_circuit_opens"  # a counter: exposed with _total

# the content type of the text exposition format
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_EXECUTION_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
_NODE_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_WEBHOOK_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def package_version() -> str:
    try:
        return version("relayflow")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0"


def status_class(status: int) -> str:
    """``2xx``, ``4xx``, ...: the bounded label for an HTTP status."""
    return f"{status // 100}xx"


class _CircuitCollector(Collector):
    """The HTTP circuit breakers of this process, read at each scrape (hosts that never failed
    are not listed)."""

    def collect(self) -> Iterator[Metric]:
        from relayflow.http_session import circuit_states

        state = GaugeMetricFamily(
            HTTP_CIRCUIT_STATE,
            "HTTP circuit breaker per host: 0 closed, 1 open, 2 half-open.",
            labels=["host"],
        )
        opens = CounterMetricFamily(
            HTTP_CIRCUIT_OPENS, "Times an HTTP circuit breaker opened.", labels=["host"]
        )
        for host, (value, count) in sorted(circuit_states().items()):
            state.add_metric([host], value)
            opens.add_metric([host], count)
        yield state
        yield opens


class Metrics:
    """The server's metrics in their own registry, fed by the API and the engine's events."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.executions = Counter(EXECUTIONS_TOTAL, "Finished executions.", ["status", "mode"], registry=reg)
        self.execution_duration = Histogram(
            EXECUTION_DURATION, "Execution wall time.", buckets=_EXECUTION_BUCKETS_S, registry=reg
        )
        self.node_duration = Histogram(
            NODE_DURATION, "Node run time by node type.", ["node_type"], buckets=_NODE_BUCKETS_S, registry=reg
        )
        self.webhook_duration = Histogram(
            WEBHOOK_DURATION,
            "Webhook request time, until the answer.",
            ["status_class"],
            buckets=_WEBHOOK_BUCKETS_S,
            registry=reg,
        )
        self.in_flight = Gauge(EXECUTIONS_IN_FLIGHT, "Executions running in this process.", registry=reg)
        self.build_info = Gauge(BUILD_INFO, "Always 1; the version as a label.", ["version"], registry=reg)
        self.build_info.labels(version=package_version()).set(1)
        self._running: dict[str, tuple[str, float]] = {}  # execution id → (mode, start)
        # executions started and not finished, sub-workflows and scheduled runs included
        self.in_flight.set_function(lambda: len(self._running))
        reg.register(_CircuitCollector())

    def execution_started(self, execution_id: str, mode: str) -> None:
        self._running[execution_id] = (mode, time.monotonic())

    def execution_finished(self, execution_id: str, status: str) -> None:
        started = self._running.pop(execution_id, None)
        if started is None:  # its start was not seen: count it, without a duration
            self.executions.labels(status=status, mode="unknown").inc()
            return
        mode, t0 = started
        self.executions.labels(status=status, mode=mode).inc()
        self.execution_duration.observe(time.monotonic() - t0)

    def execution_crashed(self, execution_id: str) -> None:
        """Its task raised before the end was reported: count it as ``crashed`` if still running."""
        if execution_id in self._running:
            self.execution_finished(execution_id, "crashed")

    def node_ran(self, node_type: str, duration_s: float) -> None:
        self.node_duration.labels(node_type=node_type).observe(max(duration_s, 0.0))

    def webhook_answered(self, status: int, duration_s: float) -> None:
        self.webhook_duration.labels(status_class=status_class(status)).observe(duration_s)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
