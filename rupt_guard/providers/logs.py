"""Identification tokens never reach a log line: ours, or those of requests and urllib3.

urllib3 logs every request line at DEBUG, and the token travels in the URL path of the
completion call. A token is single-use and claimed before the call, so one read from a log
is worth little; it is still the browser's proof of a sign-in and has no place in logs.
"""

from __future__ import annotations

import logging
import re
from typing import Any

TOKEN_IN_PATH = re.compile(r"(/identification/)[^/\s\"'?#]+")
REDACTED = r"\1<token>"
# The loggers that see request URLs when the provider calls Rupt. A filter on a logger does
# not see its children's records, so each module's logger is named.
HTTP_LOGGERS = (
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.response",
    "urllib3.poolmanager",
    "urllib3.util.retry",
    "requests",
)


def redact(value: Any) -> Any:
    return TOKEN_IN_PATH.sub(REDACTED, value) if isinstance(value, str) else value


class RedactTokens(logging.Filter):
    """Rewrites a record's message and arguments; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: redact(arg) for key, arg in record.args.items()}
        return True


def install() -> None:
    """Called from ``AppConfig.ready()``; adding the filter twice is harmless (a set)."""
    for name in HTTP_LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)


_FILTER = RedactTokens()
