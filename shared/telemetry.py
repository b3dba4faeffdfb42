"""Prometheus metrics, structured JSON logs and trace ids, shared by the gateway and every worker."""
from __future__ import annotations

import contextvars
import io
import json
import logging
import os
import re
import sys
import threading
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


_GLOG = re.compile(r"^([IWEF])\d{4} ")  # absl/glog: I0000 00:00:… file.cc:12] message
native_logger = logging.getLogger("facecast.native")


def _native_level(line: str) -> int:
    """Native errors stay visible; their informational chatter (MediaPipe's graph start, TFLite's
    delegate, absl's "before InitializeLog" notice, feedback-tensor warnings) is debug."""
    match = _GLOG.match(line)
    if match and match.group(1) in "EF":
        return logging.ERROR
    return logging.DEBUG


def capture_native_stderr() -> None:
    """Keep every line of the process's stderr JSON. Native libraries (MediaPipe's absl/glog logging,
    TensorFlow Lite) write straight to file descriptor 2, past Python logging; fd 2 becomes a pipe whose
    lines are logged as `facecast.native` entries, and Python's own stderr (the log handler, tracebacks)
    keeps the real descriptor. Called by the long-running commands (worker, gateway), not by tests."""
    if getattr(capture_native_stderr, "done", False):
        return
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = io.TextIOWrapper(os.fdopen(real, "wb", buffering=0), encoding="utf-8", errors="replace",
                                  line_buffering=True, write_through=True)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setStream(sys.stderr)

    def pump() -> None:
        with os.fdopen(read_end, "r", encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if line := line.rstrip():
                    native_logger.log(_native_level(line), line)

    threading.Thread(target=pump, name="native-stderr", daemon=True).start()
    logging.captureWarnings(True)  # Python warnings as JSON entries too (`py.warnings`)
    capture_native_stderr.done = True


def log_fields(**fields) -> dict:
    """`logger.info("msg", extra=log_fields(job_id=...))` puts the fields into the JSON entry."""
    return {"fields": fields}
