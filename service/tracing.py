"""Optional OpenTelemetry tracing: one span per HTTP request, a child span per pipeline stage. Off by default; on
with ``tracing.enabled`` and ``pip install 'sieve[otel]'`` (the SDK and the OTLP/HTTP exporter)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kernel.errors import MissingExtra
from service.config import TracingSettings


class Tracing:
    """A tracer provider of our own (the global one is left alone), exporting through ``exporter`` when given
    (tests pass an in-memory one), else the exporter the settings name."""

    def __init__(self, settings: TracingSettings, exporter: Any = None) -> None:
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        except ImportError as exc:
            raise MissingExtra("tracing.enabled needs OpenTelemetry: pip install 'sieve[otel]'") from exc
        self.provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
        if exporter is not None:
            self.provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            self.provider.add_span_processor(BatchSpanProcessor(self._exporter(settings)))
        self.tracer = self.provider.get_tracer("sieve")

    @staticmethod
    def _exporter(settings: TracingSettings) -> Any:
        if settings.exporter == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            return ConsoleSpanExporter()
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise MissingExtra("tracing.exporter 'otlp' needs pip install 'sieve[otel]'") from exc
        return OTLPSpanExporter(endpoint=settings.endpoint) if settings.endpoint else OTLPSpanExporter()

    @contextmanager
    def request_span(self, name: str, attributes: dict[str, str]) -> Iterator[Any]:
        with self.tracer.start_as_current_span(name, attributes=attributes) as span:
            yield span

    def stage_spans(self, marks: Sequence[tuple[str, float, float]]) -> None:
        """Child spans of the current span for stages already run (``(stage, start, end)`` on ``perf_counter``)."""
        offset = time.time_ns() - time.perf_counter_ns()
        for stage, start, end in marks:
            span = self.tracer.start_span(stage, start_time=offset + int(start * 1e9))
            span.end(end_time=offset + int(end * 1e9))

    def shutdown(self) -> None:
        self.provider.shutdown()
