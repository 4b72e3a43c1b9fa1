"""What every datamgr command runs in: the global options with the process's one settings and engine,
the error path that turns any failure into one `Error:` line and an exit code, and the feedback on
stderr (progress bar, stage spinner, log lines) that only a person at a terminal sees drawn.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from datamgr import errors
from datamgr.logs import LogFormat, print_error

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from datamgr import messages
    from datamgr.render import OutputFormat
    from datamgr.settings import Settings

log = logging.getLogger("datamgr")

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `cat big | head`


@dataclass
class State:
    """What the global options say, and the one engine and settings of this process."""

    config: Path | None = None
    config_from_env: bool = False  # --config's value is DATAMGR_CONFIG's
    db_url: str | None = None
    quiet: bool = False
    verbose: bool = False
    log_format: LogFormat = LogFormat.text
    _settings: Settings | None = field(default=None, repr=False)
    _engine: Engine | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        if self._settings is None:
            from datamgr.settings import load_settings

            self._settings = load_settings(self.config, config_from_env=self.config_from_env, db_url=self.db_url)
        return self._settings

    def engine(self) -> Engine:
        """The engine; it connects on first use, so arguments are all checked before that."""
        if self._engine is None:
            from datamgr.store.engine import make_engine

            settings = self.settings()
            self._engine = make_engine(
                settings.database_url,
                connect_timeout_s=settings.data_manager.connect_timeout_s,
                lock_timeout_s=settings.data_manager.lock_timeout_s,
            )
        return self._engine

    @property
    def database_url(self) -> str | None:
        """The database's URL once the settings are loaded (for error messages, which must not load them)."""
        return self._settings.database_url if self._settings is not None else None

    @property
    def database_file(self) -> Path | None:
        """The SQLite file of the store (None for a server): no output may be written onto it."""
        from datamgr.store.engine import sqlite_path

        return sqlite_path(self.settings().database_url)

    def prints(self, fmt: object | None, output: Path | None) -> bool:
        """Whether a command that writes (train, predict, evaluate) shows its result: always, except
        under --quiet without --format or --output; cron mails any output, so a good quiet run is silent."""
        return not self.quiet or fmt is not None or output is not None

    @property
    def interactive(self) -> bool:
        """Progress bars and colour only for a person at a terminal."""
        return not self.quiet and sys.stderr.isatty()


def state_of(ctx: typer.Context) -> State:
    """The State the top-level command stored, or the defaults when a command runs on its own (tests)."""
    state = ctx.find_object(State)
    return state if state is not None else State()


@contextmanager
def reported(
    ctx: typer.Context, *, failure_code: int | None = None, on_failure: Callable[[str], object] | None = None
) -> Iterator[State]:
    """Run a command body, turning every failure into one `Error:` line and an exit code.

    The code is the error's own (1 data or runtime, 2 usage, 130 interrupted) unless failure_code
    overrides it (status: 3, Nagios' UNKNOWN); on_failure also gets the line (status' nagios output).
    """
    state = state_of(ctx)
    try:
        yield state
        sys.stdout.flush()  # a closed pipe shows here for output still in the buffer
    except typer.Exit:
        raise
    except BrokenPipeError:
        stdout_gone()
    except (Exception, KeyboardInterrupt) as exc:
        message = errors.describe(exc, state.database_url, state.verbose)
        if on_failure is not None:
            on_failure(message)
        print_error(message, state.log_format, exc if state.verbose else None)
        interrupted = isinstance(exc, KeyboardInterrupt)
        raise typer.Exit(errors.exit_code(exc) if failure_code is None or interrupted else failure_code) from None


def stdout_gone() -> NoReturn:
    """The reader of stdout went away (`datamgr last-n 5000 | head -1`): stop quietly with 141, as
    `cat` would, and point stdout at /dev/null so that Python's final flush cannot complain."""
    with suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(EXIT_BROKEN_PIPE)


def show(frame: Any, fmt: OutputFormat | None, output: Path | None, title: str) -> None:
    """Print a command's result (or write it to --output, noting that on stderr)."""
    from datamgr.render import render

    note = render(frame, fmt=fmt, output=output, title=title)
    if note:
        log.info(note)


def emit(*lines: messages.Line) -> None:
    """Log a command's lines, each at its level."""
    for line in lines:
        log.log(line.level, line.text)


@contextmanager
def progress(state: State, label: str, total: Callable[[], int | None]) -> Iterator[Any]:
    """A rich progress bar on a terminal; a no-op under cron, in pipes and with --quiet.

    The total is asked for only when a bar is shown: it costs a look into every file.
    """
    if not state.interactive:
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=total())
        yield lambda rows: bar.advance(task, rows)


@contextmanager
def stages(state: State) -> Iterator[Any]:
    """A spinner naming the current stage on a terminal; debug log lines otherwise."""
    if not state.interactive:
        yield lambda name: log.debug(name)
        return
    from rich.console import Console

    with Console(stderr=True).status("starting") as status:
        yield lambda name: status.update(name)
