"""JSON logs, one object per line, carrying the request id and the trace id."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from opentelemetry import trace
from pythonjsonlogger.json import JsonEncoder

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# What every LogRecord carries by itself; all else on a record is an `extra` and goes in the line.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, exc_info/stack_info when there
    are any, then every extra (the filter's service, request and trace ids among them).

    The same lines python-json-logger's JsonFormatter wrote here before (tests/unit/test_logging.py
    holds them side by side), and its encoder for odd values, at a fraction of its CPU: the access
    log writes one line per request, and that formatter's generic field handling cost more than
    the rest of the line's path together (decision 0011)."""

    _encoder = JsonEncoder()

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                line[key] = value
        return self._encoder.encode(line)


class ContextFilter(logging.Filter):
    """Adds service, request id and trace/span ids to every record."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = request_id_var.get()
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            record.trace_id = format(ctx.trace_id, "032x")
            record.span_id = format(ctx.span_id, "016x")
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    # Our lines carry no source file, line, function, thread or process: the logging module's
    # documented switches stop it working them out for every record (the caller's frame walk
    # alone was ~1% of the gateway's CPU with one access-log line a request).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLineFormatter())
    handler.addFilter(ContextFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log is replaced by ours (with request id and identity).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("aiokafka", "kafka", "httpx", "aiohttp"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
