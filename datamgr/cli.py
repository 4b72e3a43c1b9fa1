"""The datamgr command line: parse options, call one service function, render, map errors to exit codes.

Exit codes: 0 success; 1 a data, database or runtime error (one `Error: …` line on stderr);
2 a usage error (unknown option, missing or malformed argument), found before any work;
130 interrupted; 141 the reader of stdout went away (`datamgr … | head`), as for any Unix tool.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from datamgr import __version__
from datamgr.errors import CommittedError, DatamgrError, InputFileError, StrictRefusal, UsageError
from datamgr.render import OutputFormat, check_output
from datamgr.timestamps import format_instant

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from datamgr.monitoring.status import StatusRow
    from datamgr.service.models import TrainedModel
    from datamgr.settings import Settings
    from datamgr.store.upsert import UpsertCounts

log = logging.getLogger("datamgr")

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `cat big | head`
# Global options, accepted after the command too (`datamgr ingest --quiet f`).
GLOBAL_FLAGS = frozenset({"--quiet", "-q", "--verbose", "-v"})
GLOBAL_WITH_VALUE = frozenset({"--config", "--db-url", "--log-format"})
QUARANTINE_HINT = "see `datamgr last-n 100 -t quarantine`"


def hoist_global_options(args: Sequence[str]) -> list[str]:
    """Move global options written after the command to before it, where Click looks for them.

    `datamgr ingest --quiet f` becomes `datamgr --quiet ingest f`; everything after `--` stays put.
    """
    position = 0
    while position < len(args) and args[position].startswith("-"):
        position += 2 if args[position] in GLOBAL_WITH_VALUE else 1
    if position >= len(args):
        return list(args)
    hoisted: list[str] = []
    kept: list[str] = []
    rest = iter(args[position + 1 :])
    for arg in rest:
        if arg == "--":
            kept += [arg, *rest]
        elif arg in GLOBAL_FLAGS or arg.split("=", 1)[0] in GLOBAL_WITH_VALUE:
            hoisted.append(arg)
            if arg in GLOBAL_WITH_VALUE:
                hoisted.append(next(rest, ""))
        else:
            kept.append(arg)
    return [*args[:position], *hoisted, args[position], *kept]


class DatamgrGroup(TyperGroup):
    """The top-level command: global options may come before or after the subcommand."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))


app = typer.Typer(
    name="datamgr",
    cls=DatamgrGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class JsonLines(logging.Formatter):
    """One JSON object per log line, for log shippers: time (UTC), level, message."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        return json.dumps({"time": stamp, "level": record.levelname, "message": record.getMessage()})


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
    def interactive(self) -> bool:
        """Progress bars and colour only for a person at a terminal."""
        return not self.quiet and sys.stderr.isatty()


def _state(ctx: typer.Context) -> State:
    state = ctx.find_object(State)
    return state if state is not None else State()


def _configure_logging(state: State) -> None:
    """Plain, timestamped lines on stderr when not on a terminal (cron, pipes); bare messages on one."""
    handler = logging.StreamHandler(sys.stderr)
    if state.log_format is LogFormat.json:
        handler.setFormatter(JsonLines())
    elif sys.stderr.isatty():
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG if state.verbose else logging.WARNING if state.quiet else logging.INFO)


def _fail(state: State, message: str, exc: BaseException | None = None, code: int = 1) -> NoReturn:
    if state.verbose and exc is not None:
        traceback.print_exception(exc, file=sys.stderr)
    one_line = " ".join(message.split())
    if state.log_format is LogFormat.json:
        record = logging.LogRecord("datamgr", logging.ERROR, "", 0, one_line, None, None)
        typer.echo(JsonLines().format(record), err=True)
    else:
        typer.echo(f"Error: {one_line}", err=True)
    raise typer.Exit(code)


@contextmanager
def reported(ctx: typer.Context) -> Iterator[State]:
    """Run a command body, turning every failure into one `Error:` line and an exit code."""
    state = _state(ctx)
    try:
        yield state
        sys.stdout.flush()  # a closed pipe shows here for output still in the buffer
    except typer.Exit:
        raise
    except BrokenPipeError:
        _stdout_gone()
    except DatamgrError as exc:
        _fail(state, str(exc), exc, code=exc.exit_code)
    except KeyboardInterrupt as exc:
        _fail(
            state,
            "interrupted; the transaction was rolled back and nothing was written",
            exc,
            code=130,
        )
    except Exception as exc:
        _fail(state, _describe_unexpected(exc, state), exc)


def _stdout_gone() -> NoReturn:
    """The reader of stdout went away (`datamgr last-n 5000 | head -1`): stop quietly with 141, as
    `cat` would, and point stdout at /dev/null so that Python's final flush cannot complain."""
    with suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(EXIT_BROKEN_PIPE)


def _describe_unexpected(exc: Exception, state: State) -> str:
    from sqlalchemy.exc import DBAPIError

    where = state._settings.database_url if state._settings else "the database"
    driver_error = exc.orig if isinstance(exc, DBAPIError) else exc
    # Errors of the drivers themselves (bulk paths use the driver's cursor directly) are database errors too.
    if isinstance(exc, DBAPIError) or type(exc).__module__.split(".")[0] in ("sqlite3", "psycopg"):
        lines = str(driver_error).strip().splitlines()
        original = lines[0] if lines else type(driver_error).__name__
        return f"database {_safe_url(where)}: {original}{HINTS.get(original, '')}"
    hint = "" if state.verbose else " (run with --verbose for the traceback)"
    return f"unexpected {type(exc).__name__}: {exc}{hint}"


HINTS = {
    "unable to open database file": "; check that its folder exists and is writable",
    "attempt to write a readonly database": "; check the file's permissions",
    "database is locked": "; another writer held the lock longer than data_manager.lock_timeout_s; try again",
}


def _safe_url(url: str) -> str:
    """A URL fit for an error message: never the password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the database"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"datamgr {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="DATAMGR_CONFIG",
            help="Config file; its relative paths are taken from its project folder "
            "[default: config/parameters.yml, when there is one].",
        ),
    ] = None,
    db_url: Annotated[
        str | None,
        typer.Option(
            "--db-url",
            envvar="DATAMGR_DB_URL",
            help="SQLAlchemy URL of the database, e.g. postgresql+psycopg://user@host/scada; "
            "wins over DATAMGR_DB_URL and the config file [default: SQLite at data_manager.db_path].",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and warnings on stderr.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging; tracebacks on errors.")] = False,
    log_format: Annotated[
        LogFormat,
        typer.Option("--log-format", envvar="DATAMGR_LOG_FORMAT", help="Log lines on stderr as text or JSON objects."),
    ] = LogFormat.text,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Keep a wind turbine's 10-minute SCADA history in a database and run a power model against it.

    Settings come from config/parameters.yml, overridden by DATAMGR_* environment
    variables, overridden by options. Relative paths in the config file are taken from
    the project folder (the one holding config/), so datamgr runs from any directory.
    Global options go before or after the command.

    Exit codes: 0 done; 1 failed (one Error: line); 2 usage error, nothing done;
    130 interrupted, rolled back; 141 stdout closed early (| head).

    Example (a crontab line, from any working directory):

    \b
      datamgr --config /srv/scada/config/parameters.yml ingest --quiet /srv/scada/feed.parquet
    """
    source = ctx.get_parameter_source("config")
    state = State(
        config=config,
        config_from_env=getattr(source, "name", None) == "ENVIRONMENT",
        db_url=db_url,
        quiet=quiet,
        verbose=verbose,
        log_format=log_format,
    )
    ctx.obj = state
    _configure_logging(state)


TableOption = Annotated[
    str | None,
    typer.Option(
        "--table",
        "-t",
        help="Table: raw_data, predictions (or quarantine to read) [default: data_manager.raw_data_table_name].",
    ),
]
FormatOption = Annotated[
    OutputFormat | None,
    typer.Option("--format", "-f", help="Output format [default: table on a terminal, csv otherwise]."),
]
StartOption = Annotated[
    str | None, typer.Option("--start", "-s", help="First timestamp, inclusive [default: training_pipeline's].")
]
EndOption = Annotated[
    str | None,
    typer.Option(
        "--end",
        "-e",
        help="Last timestamp, inclusive [default: the newest row with --start alone, else training_pipeline's].",
    ),
]
TurbineOption = Annotated[
    str | None,
    typer.Option("--turbine", "-T", help="Only this turbine [default: every turbine].", show_default=False),
]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write to this .parquet or .csv file instead of stdout."),
]


def _show(state: State, frame: Any, fmt: OutputFormat | None, output: Path | None, title: str) -> None:
    from datamgr.render import render

    note = render(frame, fmt=fmt, output=output, title=title)
    if note:
        log.info(note)


@app.command("init-db")
def init_db(
    ctx: typer.Context,
    no_history: Annotated[
        bool,
        typer.Option("--no-history", help="Create the schema only; do not load the history file."),
    ] = False,
) -> None:
    """Create the database (and its folder), migrate it to the current schema and load the history.

    The history file (data_manager.history_data_path) is read only to fill an empty raw_data,
    so running init-db again is safe and changes nothing. It never deletes data, and when it
    fails it leaves no new database file behind.

    Example:

    \b
      datamgr init-db
    """
    with reported(ctx) as state:
        from datamgr.service import ingest as ingest_service

        report = ingest_service.init_db(state.engine(), state.settings(), load_history=not no_history)
        migrated = (
            f"schema at {report.revision_after}"
            if report.revision_before == report.revision_after
            else f"schema migrated {report.revision_before or 'empty'} -> {report.revision_after}"
        )
        level = logging.INFO
        if report.history is not None:
            loaded = f"loaded {report.history.inserted} rows from {report.history_path}"
            if report.history.duplicates:
                loaded += f", {report.history.duplicates} duplicate timestamps collapsed to the last"
            if report.history.quarantined:
                loaded += f", {report.history.quarantined} rows quarantined for impossible values ({QUARANTINE_HINT})"
                level = logging.WARNING
        else:
            loaded = f"history not loaded: {report.skipped_reason}"
        log.log(level, f"init-db: {migrated}; {loaded}; raw_data holds {report.raw_rows} rows")


def _delimiter(value: str | None) -> str | None:
    """--delimiter: one character; `tab` or `\\t` for a tab."""
    if value is None:
        return None
    value = "\t" if value in ("tab", "\\t") else value
    if len(value) != 1 or value in ('"', "\n", "\r"):
        raise typer.BadParameter(f"{value!r} is not one character; use , ; tab or another single character")
    return value


def _decimal(value: str | None) -> str | None:
    if value is not None and value not in (".", ","):
        raise typer.BadParameter(f"{value!r}: the decimal separator is . or ,")
    return value


@app.command()
def ingest(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Parquet or CSV files to upsert.", show_default=False)],
    table: TableOption = None,
    ignore_unknown_columns: Annotated[
        bool,
        typer.Option(
            "--ignore-unknown-columns",
            help="Skip columns the table does not have instead of failing (each is named in a WARNING).",
        ),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Fail (exit 1, nothing written) on any warning: quarantined rows, duplicate timestamps, "
            "a file without rows, ignored columns.",
        ),
    ] = False,
    replace_blanks: Annotated[
        bool,
        typer.Option(
            "--replace-blanks",
            help="Let blank values overwrite stored ones (by default a blank keeps the stored value).",
        ),
    ] = False,
    delimiter: Annotated[
        str | None,
        typer.Option(
            "--delimiter",
            callback=_delimiter,
            help="CSV delimiter, one character (tab: 'tab') [default: detected among , ; tab].",
        ),
    ] = None,
    decimal: Annotated[
        str | None,
        typer.Option(
            "--decimal",
            callback=_decimal,
            help="CSV decimal separator, . or , [default: detected; , only when the delimiter is not ,].",
        ),
    ] = None,
    turbine: Annotated[
        str | None,
        typer.Option(
            "--turbine",
            "-T",
            help="Turbine of files without a turbine_id column [default: data_manager.default_turbine_id].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Upsert Parquet or CSV files into a table, keyed on (turbine_id, Timestamps), in one transaction.

    New timestamps are inserted, changed rows updated, identical rows left alone, so a file can
    be ingested again safely. A blank value never erases a stored one (unless --replace-blanks).
    A CSV row with fewer or more fields than the header, a cut timestamp, or a file that changes
    while it is read refuses the whole run. Timestamps without an offset are read in
    data_manager.naive_timezone. Rows with a value outside data_manager.limits go to the
    quarantine table; they, duplicate timestamps, files without rows and ignored columns are
    WARNING lines, printed even with --quiet. Vendor column names are renamed by
    data_manager.column_map first; a file with a turbine_id column may hold any number of
    turbines, and a file without one belongs to --turbine or the default turbine.

    Example:

    \b
      datamgr ingest data/01_raw/inference_data.parquet
      datamgr --quiet ingest --strict feed.csv
      datamgr ingest --delimiter ';' --decimal , export.csv
      datamgr ingest --turbine WTG07 wtg07_export.csv
    """
    if delimiter == "," and decimal == ",":
        raise typer.BadParameter("--decimal , needs a --delimiter other than ,", param_hint="--decimal")
    with reported(ctx) as state:
        from datamgr.service import ingest as ingest_service

        settings = state.settings()
        try:
            with _progress(state, "ingest", lambda: ingest_service.total_rows(files)) as advance:
                report = ingest_service.ingest_files(
                    state.engine(),
                    settings,
                    files,
                    table_name=table,
                    ignore_unknown=ignore_unknown_columns,
                    strict=strict,
                    replace_blanks=replace_blanks,
                    delimiter=delimiter,
                    decimal=decimal,
                    progress=advance,
                    turbine=turbine,
                )
        except StrictRefusal as refusal:
            for line in refusal.warnings:
                log.warning(line)
            raise
        for item in report.files:
            for line in item.warnings(report.table):
                log.warning(line)
            log.info(f"ingest {item.path} -> {report.table}: {_counts(item.counts)}")
            if len(item.counts.per_turbine) > 1:
                for turbine_id, counts in item.counts.per_turbine:
                    log.info(f"ingest {item.path} -> {report.table}: {turbine_id}: {_counts(counts)}")
        if len(report.files) > 1:
            log.info(f"ingest total -> {report.table}: {_counts(report.total)}")


def _counts(counts: UpsertCounts) -> str:
    text = (
        f"{counts.rows_read} rows read, {counts.inserted} inserted, "
        f"{counts.updated} updated, {counts.unchanged} unchanged"
    )
    if counts.duplicates:
        text += f", {counts.duplicates} duplicate timestamps collapsed to the last"
    if counts.quarantined:
        text += f", {counts.quarantined} quarantined for impossible values (see `datamgr last-n 100 -t quarantine`)"
    if counts.blanks_kept:
        text += f", {counts.blanks_kept} stored values kept where the file was blank"
    if counts.off_grid:
        text += f", {counts.off_grid} timestamps off the 10-minute grid"
    return text


@contextmanager
def _progress(state: State, label: str, total: Callable[[], int | None]) -> Iterator[Any]:
    """A rich progress bar on a terminal; a no-op under cron, in pipes and with --quiet.

    The total is asked for only when a bar is shown: it costs a look into every file.
    """
    if not state.interactive:
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=total())
        yield lambda rows: progress.advance(task, rows)


@app.command("last-n")
def last_n(
    ctx: typer.Context,
    n: Annotated[int, typer.Argument(help="How many of the newest rows (of each turbine).", show_default=False)],
    table: TableOption = None,
    turbine: TurbineOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Print the N newest rows of each turbine (or of one), by turbine and then oldest first.

    Example:

    \b
      datamgr last-n 100 --format json | jq '.[-1]'
      datamgr last-n 5 --turbine T02
    """
    with reported(ctx) as state:
        from datamgr.service import reads as reads_service

        check_output(output)
        frame = reads_service.last_n(state.engine(), state.settings(), n, table_name=table, turbine=turbine)
        _show(state, frame, fmt, output, f"last {n} rows")


@app.command("range")
def range_(
    ctx: typer.Context,
    start: StartOption = None,
    end: EndOption = None,
    table: TableOption = None,
    turbine: TurbineOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Print the rows between two timestamps, both inclusive, by turbine and then oldest first.

    Timestamps are ISO 8601; without an offset they are read in data_manager.naive_timezone.
    With only --start, the range runs to the newest row; with neither, it is training_pipeline's.

    Example:

    \b
      datamgr range --start '2007-07-29 03:10:00' --end '2008-02-22 11:00:00' -o train.parquet
      datamgr range --start 2008-07-28      # from then to the newest row
    """
    with reported(ctx) as state:
        from datamgr.service import reads as reads_service

        check_output(output)
        frame = reads_service.time_range(
            state.engine(), state.settings(), start, end, table_name=table, turbine=turbine
        )
        _show(state, frame, fmt, output, "rows in range")


@app.command()
def export(
    ctx: typer.Context,
    table: TableOption = None,
    turbine: TurbineOption = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Target .parquet or .csv [default: data_manager.prod_data_path]."),
    ] = None,
) -> None:
    """Write a whole table to a file: a snapshot of the production store.

    Example:

    \b
      datamgr export -o /backups/raw_data.parquet
    """
    with reported(ctx) as state:
        from datamgr.service import reads as reads_service

        settings = state.settings()
        target = output or settings.data_manager.prod_data_path
        check_output(target)
        frame = reads_service.export_table(state.engine(), settings, table_name=table, turbine=turbine)
        _show(state, frame, None, target, "export")


@app.command("sample-data")
def sample_data(
    ctx: typer.Context,
    seed: Annotated[
        int, typer.Option(min=0, help="Random seed (0 or more); the same seed gives the same files.")
    ] = 20070701,
    inference_path: Annotated[
        Path, typer.Option("--inference-path", help="Where the four weeks after the history go.")
    ] = Path("data/01_raw/inference_data.parquet"),
    turbines: Annotated[
        int,
        typer.Option(
            "--turbines",
            min=0,
            max=4,
            help="0: the lesson's single turbine. 1-4: a farm, written as a vendor export "
            "(config/farm.yml maps its columns).",
        ),
    ] = 0,
) -> None:
    """Generate the sample SCADA files: the history (to data_manager.history_data_path) and inference data.

    Deterministic: one 2 MW turbine from 2007-07-01 to 2008-06-30, then four weeks of new data.
    With --turbines N, a farm of N turbines of different rated power in one site wind (T03 reports
    only six sensors), written as a vendor exports it: vendor column names, local time with DST
    offsets, and two columns datamgr does not keep.

    Example:

    \b
      datamgr sample-data
      datamgr --config config/farm.yml sample-data --turbines 4 --inference-path data/01_raw/farm_inference.parquet
    """
    with reported(ctx) as state:
        from datamgr.sample_data import write_farm_files, write_sample_files

        history_path = state.settings().data_manager.history_data_path
        if turbines:
            files = write_farm_files(history_path, inference_path, turbines=turbines, seed=seed)
        else:
            files = write_sample_files(history_path, inference_path, seed=seed)
        log.info(
            f"sample-data: {files.history_rows} rows to {files.history}, "
            f"{files.inference_rows} rows to {files.inference}"
        )


@app.command()
def train(
    ctx: typer.Context,
    start: StartOption = None,
    end: EndOption = None,
    turbine: TurbineOption = None,
    fmt: FormatOption = None,
    force: Annotated[bool, typer.Option("--force", help="Train even when the newest model is up to date.")] = False,
) -> None:
    """Fit a power model per turbine on a time range, evaluate each on the range's last part, register them.

    Prints each model's holdout MAE, RMSE and R² beside its binned power-curve baseline. Models
    are saved with skops under training_pipeline.models_dir and recorded in model_runs with their
    turbine. A turbine whose newest model was trained on the same range and the same data
    (digest), with the same estimator and parameters, is up to date: nothing is trained for it
    (unless --force) and its metrics are printed. A turbine without enough rows in the range is
    skipped with a WARNING.

    Example:

    \b
      datamgr train --start 2007-07-29 --end 2008-02-22
      datamgr train --turbine T03 --force
    """
    with reported(ctx) as state:
        from datamgr.service import models as models_service

        with _stages(state) as stage:
            report = models_service.train(
                state.engine(), state.settings(), start, end, turbine=turbine, force=force, stage=stage
            )
        _show(state, models_service.metrics_frame(report), fmt, None, "models on their holdout")
        for turbine_id, reason in report.skipped.items():
            log.warning(f"train: turbine {turbine_id} skipped: {reason}")
        for item in report.models:
            _report_model(item)


def _report_model(item: TrainedModel) -> None:
    """The log lines of one turbine's train result."""
    name = f"train: {item.turbine_id}: model {item.model_id}"
    result = item.result
    if result is None:
        log.info(
            f"{name} is up to date (same range, data digest, estimator and parameters); "
            "nothing trained; pass --force to train again"
        )
        return
    if result.features_left_out:
        log.warning(
            f"{name}: {len(result.features_left_out)} feature(s) left out, without any value in the "
            f"{result.rows_fit} rows fitted: {', '.join(result.features_left_out)}; the model uses the others"
        )
    if not item.promoted:
        log.warning(f"{name} registered but not promoted: {item.note}; the active model stays in use")
    mae, baseline = result.metrics["model"]["mae"], result.metrics["baseline"]["mae"]
    log.info(
        f"{name} saved to {item.artifact_path}; {result.rows_fit} rows fit, {result.rows_holdout} held out, "
        f"{result.rows_without_target} without Power left out; holdout MAE {mae:.1f} kW vs baseline {baseline:.1f} kW"
    )


@contextmanager
def _stages(state: State) -> Iterator[Any]:
    """A spinner naming the current stage on a terminal; debug log lines otherwise."""
    if not state.interactive:
        yield lambda name: log.debug(name)
        return
    from rich.console import Console

    with Console(stderr=True).status("starting") as status:
        yield lambda name: status.update(name)


@app.command()
def predict(
    ctx: typer.Context,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            "-n",
            help="How many of each turbine's newest rows [default: inference_pipeline.batch_size].",
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--start", "-s", help="Backfill: predict every row from this timestamp (instead of the newest)."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--end", "-e", help="Backfill: up to this timestamp, inclusive [default: the newest row]."),
    ] = None,
    model_id: Annotated[
        int | None,
        typer.Option("--model-id", "-m", help="Registered model to use [default: each turbine's newest]."),
    ] = None,
    turbine: TurbineOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Predict power for each turbine's newest rows with its model, and store each prediction with its model id.

    One cron line serves the farm: turbines without a model are named in a WARNING and skipped,
    and a turbine whose newest row its model already predicted is skipped. With --start/--end
    every row of the range is predicted, batch by batch (a backfill), and nothing is printed but
    the counts. Predicting the same rows again with the same model leaves them as they are
    (reported as unchanged); it never duplicates. --output is checked before anything is stored.

    Example:

    \b
      datamgr predict --batch-size 32
      datamgr predict --start 2008-07-01 --end 2008-07-28
    """
    with reported(ctx) as state:
        from datamgr.service import predict as predict_service

        check_output(output)
        report = predict_service.predict(
            state.engine(),
            state.settings(),
            batch_size=batch_size,
            model_id=model_id,
            turbine=turbine,
            start=start,
            end=end,
        )
        stored = "; ".join(f"{t.turbine_id}: model {t.model_id} -> {_counts(t.counts)}" for t in report.turbines)
        if start is None and end is None:
            try:
                _show(state, report.predictions, fmt, output, "predictions")
            except BrokenPipeError:
                raise  # `| head` read what it wanted: not a failure
            except Exception as exc:
                reason = str(exc) if isinstance(exc, DatamgrError) else f"printing failed: {type(exc).__name__}: {exc}"
                raise CommittedError(
                    f"{reason}; the predictions were stored all the same ({stored}); "
                    f"`datamgr last-n {len(report.predictions)} -t predictions` prints them"
                ) from exc
        if report.without_model:
            log.warning(
                f"predict: {len(report.without_model)} turbine(s) without an active model skipped: "
                f"{', '.join(report.without_model)}; run `datamgr train` (or `datamgr models activate ID`)"
            )
        for turbine_id, newest in report.up_to_date.items():
            log.info(f"predict: {turbine_id}: no new rows since the last prediction ({format_instant(newest)})")
        for item in report.turbines:
            if item.without_features:
                more = item.without_features - len(item.first_without_features)
                log.warning(
                    f"predict: {item.turbine_id}: {item.without_features} row(s) without a value for any of model "
                    f"{item.model_id}'s features not predicted: {', '.join(item.first_without_features)}"
                    + (f" and {more} more" if more > 0 else "")
                )
            log.info(f"predict: {item.turbine_id}: model {item.model_id} -> predictions: {_counts(item.counts)}")


models_app = typer.Typer(
    name="models",
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(models_app)


@models_app.callback(invoke_without_command=True)
def models(
    ctx: typer.Context, turbine: TurbineOption = None, fmt: FormatOption = None, output: OutputOption = None
) -> None:
    """List the registered models: turbine, whether active, training range, holdout MAE beside the baseline's.

    Each turbine has at most one active model: the one predict uses. train makes a new model
    active only when it beats its binned power curve and is no worse than the active model on
    the same rows (training_pipeline.promote_tolerance); `models activate` and `models retire`
    change it by hand.

    Example:

    \b
      datamgr models --turbine T01 --format json
      datamgr models activate 7
    """
    if ctx.invoked_subcommand is not None:
        return
    with reported(ctx) as state:
        from datamgr.service import models as models_service

        check_output(output)
        _show(state, models_service.list_models(state.engine(), turbine=turbine), fmt, output, "models")


ModelIdArgument = Annotated[int, typer.Argument(help="The model's id (see `datamgr models`).", show_default=False)]


@models_app.command("activate")
def models_activate(ctx: typer.Context, model_id: ModelIdArgument) -> None:
    """Make a model its turbine's active one: the one predict uses from now on.

    Example:

    \b
      datamgr models activate 7
    """
    with reported(ctx) as state:
        from datamgr.service import models as models_service

        run = models_service.activate_model(state.engine(), model_id)
        log.info(f"models: model {model_id} is now the active model of turbine {run.turbine_id}")


@models_app.command("retire")
def models_retire(ctx: typer.Context, model_id: ModelIdArgument) -> None:
    """Stop using a model; its turbine has no active model until one is trained or activated.

    Example:

    \b
      datamgr models retire 7
    """
    with reported(ctx) as state:
        from datamgr.service import models as models_service

        run = models_service.retire_model(state.engine(), model_id)
        log.warning(
            f"models: model {model_id} retired; turbine {run.turbine_id} has no active model until one is "
            "trained or activated"
        )


WindowOption = Annotated[
    str | None,
    typer.Option("--window", "-w", help="Window length: 30m, 6h, 1d, 7d … [default: monitoring.window]."),
]


@app.command()
def evaluate(
    ctx: typer.Context,
    turbine: TurbineOption = None,
    model_id: Annotated[
        int | None, typer.Option("--model-id", "-m", help="Only this model [default: every model].")
    ] = None,
    start: Annotated[str | None, typer.Option("--start", "-s", help="First window to show, by time.")] = None,
    end: Annotated[str | None, typer.Option("--end", "-e", help="Last window to show, by time.")] = None,
    window: WindowOption = None,
    by: Annotated[
        str | None, typer.Option("--by", help="`wind-speed`: MAE per 1 m/s wind-speed bin instead of per window.")
    ] = None,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when any window shown is flagged (for cron).")] = False,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Compare stored predictions with the actual Power that has arrived since, per turbine, model and window.

    Per window: predictions, rows matched with an actual and coverage; MAE, RMSE, bias (mean of
    predicted minus actual) and NMAE (% of rated power, when the turbine's is known); and the MAE
    of the model's binned power curve and of persistence (the previous row's Power) on the same
    rows. A model's first window after its training range is its reference; a later window whose
    MAE exceeds monitoring.mae_alert_ratio x the reference's is flagged (alert). Results are
    stored in the evaluations table; running again changes nothing.

    Example:

    \b
      datamgr evaluate --window 7d
      datamgr --quiet evaluate --check --start 2008-07-01      # cron: exit 1 on an alert
      datamgr evaluate --turbine T03 --by wind-speed -f csv
    """
    with reported(ctx) as state:
        from datamgr.service import monitoring as monitoring_service

        if by not in (None, "wind-speed"):
            raise UsageError(f"--by {by!r}: the only breakdown is wind-speed")
        check_output(output)
        report = monitoring_service.evaluate(
            state.engine(),
            state.settings(),
            turbine=turbine,
            model_id=model_id,
            start=start,
            end=end,
            window=window,
            by_wind_speed=by == "wind-speed",
        )
        shown = report.bins if report.bins is not None else report.windows
        _show(state, shown, fmt, output, "MAE per wind-speed bin" if report.bins is not None else "evaluation")
        alerts = report.alerts
        log.info(f"evaluate: {len(report.windows)} window(s), {len(alerts)} alert(s); {report.stored} values stored")
        if len(alerts):
            first = alerts.iloc[0]
            log.warning(
                f"evaluate: {len(alerts)} window(s) flagged: MAE above {state.settings().monitoring.mae_alert_ratio}x "
                f"the reference, first {first.turbine_id} model {first.model_id} from "
                f"{format_instant(first.window_start.to_pydatetime())} (MAE {first.mae:.1f} kW, reference "
                f"{first.reference_mae:.1f} kW)"
            )
            if check:
                raise typer.Exit(1)


@app.command()
def report(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="The .html file to write.", show_default=False)],
    turbine: TurbineOption = None,
    start: Annotated[str | None, typer.Option("--start", "-s", help="First timestamp shown.")] = None,
    end: Annotated[str | None, typer.Option("--end", "-e", help="Last timestamp shown.")] = None,
) -> None:
    """Write one self-contained HTML report (images inline, readable offline) for each turbine's active model:
    the power curve (actual, predicted, binned baseline), predicted against actual Power over time,
    MAE per wind-speed bin, the evaluation windows with their alerts, and the status table.

    Example:

    \b
      datamgr report --output report.html --start 2008-07-01
    """
    with reported(ctx) as state:
        from datamgr.monitoring.report import render_html
        from datamgr.service import monitoring as monitoring_service

        if output.suffix.lower() not in (".html", ".htm"):
            raise UsageError(f"--output {output}: the report is HTML; name a .html file")
        data = monitoring_service.report_data(state.engine(), state.settings(), turbine=turbine, start=start, end=end)
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            temporary = output.with_name(f".{output.name}.tmp")
            temporary.write_text(render_html(data), encoding="utf-8")
            temporary.replace(output)
        except OSError as exc:
            raise InputFileError(f"--output {output}: cannot write: {exc.strerror or exc}") from None
        log.info(f"report: {len(data.readings)} predictions of {len(data.turbines)} turbine(s) written to {output}")


class StatusFormat(StrEnum):
    table = "table"
    json = "json"
    nagios = "nagios"


@app.command()
def status(
    ctx: typer.Context,
    turbine: TurbineOption = None,
    warn_after: Annotated[
        str | None, typer.Option("--warn-after", help="Lag that is a WARNING [default: monitoring.warn_after].")
    ] = None,
    error_after: Annotated[
        str | None,
        typer.Option("--error-after", help="Lag that is CRITICAL [default: monitoring.error_after]."),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Judge as of this instant instead of now (tests, replays).")
    ] = None,
    fmt: Annotated[
        StatusFormat | None,
        typer.Option("--format", "-f", help="table, json, or nagios (one status line with perfdata)."),
    ] = None,
) -> None:
    """Feed health per turbine: newest row and its lag, missing 10-minute slots and quarantined rows in
    the last 24 h, newest prediction and its lag, predictions waiting for actuals, the active model,
    its age and its last evaluated MAE.

    The exit status follows the Nagios plugin convention: 0 OK (every turbine fresh), 1 WARNING
    (one passed --warn-after), 2 CRITICAL (one passed --error-after, or never reported), 3 UNKNOWN
    (the database cannot be read, or the options are wrong).

    Example:

    \b
      datamgr status --format nagios
      datamgr status --warn-after 20m --error-after 1h --as-of '2008-07-28 23:55'
    """
    state = _state(ctx)
    try:
        from datamgr.service import monitoring as monitoring_service

        report = monitoring_service.status(
            state.engine(),
            state.settings(),
            turbine=turbine,
            as_of=as_of,
            warn_after=warn_after,
            error_after=error_after,
        )
    except Exception as exc:
        message = " ".join(str(exc).split()) if isinstance(exc, DatamgrError) else _describe_unexpected(exc, state)
        if fmt is StatusFormat.nagios:
            typer.echo(f"DATAMGR UNKNOWN - {message}")
        _fail(state, message, exc, code=3)
    from datamgr.monitoring.status import nagios_line

    with reported(ctx):
        if fmt is StatusFormat.nagios:
            typer.echo(nagios_line(report.rows, report.state, report.warn_after, report.error_after))
        else:
            chosen = OutputFormat.json if fmt is StatusFormat.json else None
            _show(state, _status_rows(report.rows), chosen, None, f"status: {report.state.name}")
    raise typer.Exit(int(report.state))


def _status_rows(rows: list[StatusRow]) -> Any:
    from datamgr.rows import Rows
    from datamgr.timestamps import format_stored_instant

    shown = [row.shown() for row in rows]
    names = list(shown[0]) if shown else ["turbine_id", "state"]
    stamps = {"newest_row", "newest_prediction"}
    values = [
        tuple((None if row[n] is None else format_stored_instant(row[n])) if n in stamps else row[n] for n in names)
        for row in shown
    ]
    return Rows(names, values, frozenset(stamps & set(names)))


@app.command("turbines")
def turbines_(ctx: typer.Context, fmt: FormatOption = None, output: OutputOption = None) -> None:
    """List every turbine: its metadata (config section `turbines`), rows, first and last timestamp, quarantined rows.

    Example:

    \b
      datamgr turbines --format csv
    """
    with reported(ctx) as state:
        from datamgr.service import reads as reads_service

        check_output(output)
        _show(state, reads_service.list_turbines(state.engine()), fmt, output, "turbines")


def main() -> None:
    """Console-script entry point."""
    app()
