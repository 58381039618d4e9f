"""JSON-line logs with the request id; one access line per request, without personal data."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import traceback
from typing import Any

from mdm_hub.context import request_id_var

# Attributes every LogRecord has; anything else passed in `extra=` is a field of the line.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


def _is_database_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(("sqlalchemy.", "asyncpg.")) or module == "asyncpg"


def _safe_message(exc: BaseException) -> str:
    """A database error's text quotes values (DETAIL: Key (email)=(…), invalid input: "…",
    the statement's parameters): only its class, SQLSTATE and constraint go to the log."""
    if not _is_database_error(exc):
        return str(exc)
    cause = getattr(exc, "orig", None) or exc
    parts = [
        f"{name}={value}"
        for name in ("sqlstate", "constraint_name", "table_name", "column_name")
        for value in [getattr(cause, name, None) or getattr(exc, name, None)]
        if isinstance(value, str)
    ]
    return f"(message withheld: it may quote values) {' '.join(parts)}".rstrip()


def format_exception_safely(exc: BaseException | None) -> str:
    """A traceback (with its causes) like ``logging``'s, but without database errors' text."""
    chain: list[tuple[BaseException, str | None]] = []
    seen: set[int] = set()
    link: str | None = None
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append((exc, link))
        if exc.__cause__ is not None:
            exc, link = exc.__cause__, "The above exception was the direct cause of:"
        elif exc.__context__ is not None and not exc.__suppress_context__:
            exc, link = exc.__context__, "During handling of the above exception, another:"
        else:
            exc = None
    lines: list[str] = []
    for error, how in reversed(chain):
        lines.append("Traceback (most recent call last):\n")
        lines += traceback.format_tb(error.__traceback__)
        lines.append(f"{type(error).__module__}.{type(error).__qualname__}: ")
        lines.append(_safe_message(error) + "\n")
        if how:
            lines.append(f"\n{how}\n\n")
    return "".join(lines).rstrip("\n")


class SafeTextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = None  # another formatter's cached traceback would skip ours
        return super().format(record)

    def formatException(self, ei: Any) -> str:
        return format_exception_safely(ei[1])


class JsonFormatter(logging.Formatter):
    def formatException(self, ei: Any) -> str:
        return format_exception_safely(ei[1])

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            line["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str, *, json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(SafeTextFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every request's URL at INFO: webhook URLs may carry receivers' tokens.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Our access line replaces uvicorn's, which would log query strings (phones, emails).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
