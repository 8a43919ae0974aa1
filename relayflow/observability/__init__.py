"""Observability: execution-aware log context and JSON logs (``logs``), OpenTelemetry traces
(``tracing``). Nothing here is imported on the default start path: the server loads these
modules only when ``RELAYFLOW_LOG_FORMAT=json`` or tracing is configured (docs/observability.md).
"""
