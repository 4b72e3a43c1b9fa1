"""Domain errors: each is shown to the user as one line, `Error: <message>`, and carries its exit code.

1 is a data, database or runtime error; 2 is a usage error (a malformed argument), found before
any work is done.
"""


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
    """A turbine or model the command names does not exist (exit 1, as every other data error)."""


class StrictRefusal(DataValidationError):
    """`ingest --strict` saw warnings: the transaction is rolled back and the warnings go with the error."""

    def __init__(self, warnings: list[str]) -> None:
        more = f" (and {len(warnings) - 1} more warning(s))" if len(warnings) > 1 else ""
        super().__init__(f"--strict: {warnings[0]}{more}; nothing was written")
        self.warnings = warnings


QUARANTINE_HINT = "see `datamgr last-n 100 -t quarantine`"
