"""Where datamgr's lines on stderr get their shape: bare text for a person at a terminal,
timestamped lines for cron and pipes, or one JSON object a line (--log-format json) for log shippers.

The one `Error: …` line of a failed command goes out in the same shape as the log lines.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from enum import StrEnum

import typer

log = logging.getLogger("datamgr")

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # UTC, as every timestamp datamgr prints


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class JsonLines(logging.Formatter):
    """One JSON object per log line, for log shippers: time (UTC), level, message."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime(TIMESTAMP_FORMAT, time.gmtime(record.created))
        return json.dumps({"time": stamp, "level": record.levelname, "message": record.getMessage()})


def configure_logging(log_format: LogFormat, *, quiet: bool = False, verbose: bool = False) -> None:
    """Plain, timestamped lines on stderr when not on a terminal (cron, pipes); bare messages on one.

    --quiet keeps warnings and errors, which cron must still mail; --verbose adds debug lines.
    """
    handler = logging.StreamHandler(sys.stderr)
    if log_format is LogFormat.json:
        handler.setFormatter(JsonLines())
    elif sys.stderr.isatty():
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", TIMESTAMP_FORMAT)
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


def print_error(message: str, log_format: LogFormat, traceback_of: BaseException | None = None) -> None:
    """A failed command's one line on stderr, `Error: …` or its JSON object; after the traceback, if given."""
    if traceback_of is not None:
        traceback.print_exception(traceback_of, file=sys.stderr)
    one_line = " ".join(message.split())
    if log_format is LogFormat.json:
        record = logging.LogRecord(log.name, logging.ERROR, "", 0, one_line, None, None)
        typer.echo(JsonLines().format(record), err=True)
    else:
        typer.echo(f"Error: {one_line}", err=True)
