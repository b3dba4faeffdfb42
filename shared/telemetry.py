"""Prometheus metrics, structured JSON logs and trace ids, shared by the gateway and every worker."""
from __future__ import annotations

import contextvars
import json
import logging
import sys
import time

from prometheus_client import Counter, Gauge, Histogram

trace_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

EVENTS_CONSUMED = Counter("facecast_events_consumed_total", "Stage requests taken from the bus", ["stage"])
EVENTS_PRODUCED = Counter("facecast_events_produced_total", "Events published", ["stage", "topic"])
EVENTS_FAILED = Counter("facecast_events_failed_total", "Stage attempts that failed", ["stage", "code", "final"])
EVENTS_DEAD_LETTERED = Counter("facecast_events_dead_lettered_total", "Events sent to a DLQ", ["stage"])
STAGE_LATENCY = Histogram("facecast_stage_latency_seconds", "Time in the stage function per event",
                          ["stage", "engine"], buckets=LATENCY_BUCKETS)
HOP_LATENCY = Histogram("facecast_hop_latency_seconds", "Consume → forward time per event, store I/O included",
                        ["stage"], buckets=LATENCY_BUCKETS)
IN_FLIGHT = Gauge("facecast_in_flight_events", "Events being processed", ["stage"])
BATCH_SIZE = Histogram("facecast_batch_size", "Events per model call", ["stage"], buckets=(1, 2, 4, 8, 16, 32, 64))
WEBHOOK_DELIVERIES = Counter("facecast_webhook_deliveries_total",
                             "Webhook delivery attempts by outcome: success, retry (will try again), failed (gave up)",
                             ["outcome"])
CANCELED_SKIPPED = Counter("facecast_canceled_skipped_total", "Steps not run because their job was canceled",
                           ["stage"])
REDELIVERED_SKIPPED = Counter("facecast_redelivered_skipped_total",
                              "Redelivered events whose output already existed (forwarded, not recomputed)", ["stage"])


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, var in (("trace_id", trace_id_var), ("request_id", request_id_var)):
            if (value := var.get()) is not None:
                entry[key] = value
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def log_fields(**fields) -> dict:
    """`logger.info("msg", extra=log_fields(job_id=...))` puts the fields into the JSON entry."""
    return {"fields": fields}
