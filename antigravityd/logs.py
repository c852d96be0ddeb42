"""Logging: structured journal fields under systemd, one plain line per record otherwise.

Structured data goes in ``extra`` with UPPER_CASE keys (``REQUEST_ID``, ``METHOD``, ``PATH``, ``STATUS``,
``DURATION_MS``, ``ACCOUNT``, ``MODEL`` …): the journal stores them as fields (``journalctl REQUEST_ID=…``), the
plain formatter appends them as ``key=value``. Nothing logged here may contain prompts, responses, tokens or
keys: callers pass metadata only, and query strings are never logged (they can carry API keys).
"""

from __future__ import annotations

import logging
import os
import sys
import time

__all__ = ["configure_logging"]

_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in record.__dict__.items() if k not in _RESERVED and k.isupper()}


class PlainFormatter(logging.Formatter):
    """``2026-11-25T18:00:00.123Z INFO antigravityd.http: message key=value …``"""

    def __init__(self, *, priority_prefix: bool = False) -> None:
        super().__init__()
        self.priority_prefix = priority_prefix

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        line = f"{ts} {record.levelname} {record.name}: {record.getMessage()}"
        fields = _fields(record)
        if fields:
            line += " " + " ".join(f"{k.lower()}={_quote(v)}" for k, v in fields.items())
        if record.exc_info:
            # One record stays one journal entry: indent the traceback under the line it explains.
            line += "\n  " + self.formatException(record.exc_info).replace("\n", "\n  ")
        if self.priority_prefix:
            line = f"<{_syslog_priority(record.levelno)}>" + line
        return line


def _quote(value: object) -> str:
    text = str(value)
    return f'"{text}"' if (" " in text or not text) else text


def _syslog_priority(levelno: int) -> int:
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


def _journal_handler() -> logging.Handler | None:
    try:
        from systemd import journal
    except ImportError:
        return None

    class FieldsJournalHandler(journal.JournalHandler):
        """Sends only our UPPER_CASE extras as fields (the stock handler forwards every record attribute)."""

        def emit(self, record: logging.LogRecord) -> None:
            try:
                message = record.getMessage()
                if record.exc_info:
                    message += "\n" + logging.Formatter().formatException(record.exc_info)
                journal.send(message, PRIORITY=str(_syslog_priority(record.levelno)), LOGGER=record.name,
                             SYSLOG_IDENTIFIER="antigravityd", **{k: str(v) for k, v in _fields(record).items()})
            except Exception:
                self.handleError(record)

    return FieldsJournalHandler()


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    under_journal = bool(os.environ.get("JOURNAL_STREAM"))
    handler: logging.Handler | None = None
    if fmt == "journal" or (fmt == "auto" and under_journal):
        handler = _journal_handler()
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(PlainFormatter(priority_prefix=under_journal))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries below us log request URLs and headers at DEBUG; keep them quiet even when we debug.
    for noisy in ("httpx", "httpcore", "hpack", "psycopg", "psycopg.pool"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
