"""Domain errors: each is shown to the user as one line, `Error: <message>`, and carries its exit code.

1 is a data, database or runtime error; 2 is a usage error (a malformed argument), found before
any work is done; 130 is an interrupt. `describe` gives the line for any exception, and the hints
that several messages share are defined here once.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


class DatamgrError(Exception):
    """Base of every error datamgr expects and explains to the user."""

    exit_code = 1


class UsageError(DatamgrError):
    """A command-line argument is malformed or out of bounds: nothing was done."""

    exit_code = 2


class ConfigError(DatamgrError):
    """The configuration file, an environment variable or an option holds a bad value."""


class DatabaseError(DatamgrError):
    """The database cannot be opened, or is not in the state the command needs."""


class NotInitializedError(DatabaseError):
    """The database has no datamgr schema yet (or an older one): `datamgr init-db` fixes it."""


class SchemaTooNewError(DatabaseError):
    """The database was migrated by a newer datamgr than this one."""


class TimeoutExpiredError(DatabaseError):
    """The server did not answer within connect_timeout_s, or the write lock stayed taken past lock_timeout_s."""


class InputFileError(DatamgrError):
    """An input file is missing, unreadable or not in a format datamgr reads."""


class DataValidationError(DatamgrError):
    """Rows of an input file do not fit the table they are meant for."""


class QueryError(UsageError):
    """A query argument (table, count, time range, output file name) is malformed or out of bounds."""


class ModelError(DatamgrError):
    """No usable model: none trained yet, a missing id, or an artifact that changed on disk."""


class TrainingError(DatamgrError):
    """The training range does not hold enough usable rows to fit and evaluate a model."""


class CommittedError(DatamgrError):
    """A failure after the command's transaction committed: the message says what was stored."""


class NotFoundError(DatamgrError):
    """What the command names does not exist (a model id, a turbine): exit 1, whichever command asked."""

    exit_code = 1


class StrictRefusal(DataValidationError):
    """`ingest --strict` saw warnings: the transaction is rolled back and the warnings go with the error."""

    def __init__(self, warnings: list[str]) -> None:
        more = f" (and {len(warnings) - 1} more warning(s))" if len(warnings) > 1 else ""
        super().__init__(f"--strict: {warnings[0]}{more}; nothing was written")
        self.warnings = warnings


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C

# Hints shared by several messages, so that each reads the same wherever it appears.
QUARANTINE_HINT = "see `datamgr last-n 100 -t quarantine`"
LOCK_TIMEOUT_HINT = "another writer held the lock longer than data_manager.lock_timeout_s"
LOCK_RETRY_HINT = "run again later, or raise the setting"

# What to do about the database driver's own messages, appended to them.
DRIVER_HINTS = {
    "unable to open database file": "; check that its folder exists and is writable",
    "attempt to write a readonly database": "; check the file's permissions",
    "database is locked": f"; {LOCK_TIMEOUT_HINT}; {LOCK_RETRY_HINT}",
}


SECRET_PARAMETERS = re.compile(r"([?&](?:ssl)?(?:password|passwd|pwd|passfile|sslkey)=)[^&#]*", re.IGNORECASE)


def mask_url(url: str | URL | None) -> str:
    """A database URL fit for any message or log line: never a password, wherever it is written.

    Parsed by hand, not by SQLAlchemy, so that an unencoded `@`, `:` or `/` in the password cannot
    move the split and show part of it: the user information ends at the last `@` before the host.
    Query-string secrets (`?password=`, `&sslpassword=` …) are masked too.
    """
    if url is None:
        return "the database"
    text = url.render_as_string(hide_password=False) if not isinstance(url, str) else url
    scheme, separator, rest = text.partition("://")
    if not separator:
        return "the database"
    at = rest.rfind("@")
    if at >= 0:
        user, has_password, _secret = rest[:at].partition(":")
        rest = f"{user}:***@{rest[at + 1 :]}" if has_password else f"{user}@{rest[at + 1 :]}"
    return f"{scheme}://" + SECRET_PARAMETERS.sub(r"\1***", rest)


def describe(exc: BaseException, database_url: str | URL | None = None, verbose: bool = False) -> str:
    """The one line the user reads for any failure: a datamgr error's own message, a database
    driver's message with the (masked) URL and a hint, or the type of an unexpected error."""
    if isinstance(exc, DatamgrError):
        text = str(exc)
    elif isinstance(exc, KeyboardInterrupt):
        text = "interrupted; the transaction was rolled back and nothing was written"
    elif _is_driver_error(exc):
        from sqlalchemy.exc import DBAPIError

        driver_error = exc.orig if isinstance(exc, DBAPIError) else exc
        lines = str(driver_error).strip().splitlines()
        original = lines[0] if lines else type(driver_error).__name__
        text = f"database {mask_url(database_url)}: {original}{DRIVER_HINTS.get(original, '')}"
    else:
        hint = "" if verbose else " (run with --verbose for the traceback)"
        text = f"unexpected {type(exc).__name__}: {exc}{hint}"
    return " ".join(text.split())


def _is_driver_error(exc: BaseException) -> bool:
    """SQLAlchemy's wrapped driver errors, and the drivers' own (bulk paths use their cursors directly)."""
    from sqlalchemy.exc import DBAPIError

    return isinstance(exc, DBAPIError) or type(exc).__module__.split(".")[0] in ("sqlite3", "psycopg")


def exit_code(exc: BaseException) -> int:
    """The exit status of a command that failed with exc: the error's own, 130 for an interrupt, else 1."""
    if isinstance(exc, DatamgrError):
        return exc.exit_code
    return EXIT_INTERRUPTED if isinstance(exc, KeyboardInterrupt) else 1
