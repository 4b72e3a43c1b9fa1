"""How datamgr reads its command line: global options after the command, and the options that
several commands share (declared once, so that they read and behave the same in every command).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from datamgr import __version__
from datamgr.logs import LogFormat
from datamgr.render import OutputFormat

# Global options, accepted after the command too (`datamgr ingest --quiet f`).
GLOBAL_FLAGS = frozenset({"--quiet", "-q", "--verbose", "-v"})
GLOBAL_WITH_VALUE = frozenset({"--config", "--db-url", "--log-format"})


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


def print_version(value: bool) -> None:
    """--version: print it and stop, before any other option is looked at."""
    if value:
        typer.echo(f"datamgr {__version__}")
        raise typer.Exit()


def delimiter(value: str | None) -> str | None:
    """--delimiter: one character; `tab` or `\\t` for a tab."""
    if value is None:
        return None
    value = "\t" if value in ("tab", "\\t") else value
    if len(value) != 1 or value in ('"', "\n", "\r"):
        raise typer.BadParameter(f"{value!r} is not one character; use , ; tab or another single character")
    return value


def decimal(value: str | None) -> str | None:
    """--decimal: . or ,."""
    if value is not None and value not in (".", ","):
        raise typer.BadParameter(f"{value!r}: the decimal separator is . or ,")
    return value


class StatusFormat(StrEnum):
    table = "table"
    json = "json"
    nagios = "nagios"


# Global options.
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="DATAMGR_CONFIG",
        help="Config file; its relative paths are taken from its project folder "
        "[default: config/parameters.yml, when there is one].",
    ),
]
DbUrlOption = Annotated[
    str | None,
    typer.Option(
        "--db-url",
        envvar="DATAMGR_DB_URL",
        help="SQLAlchemy URL of the database, e.g. postgresql+psycopg://user@host/scada; "
        "wins over DATAMGR_DB_URL and the config file [default: SQLite at data_manager.db_path].",
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and warnings on stderr.")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging; tracebacks on errors.")]
LogFormatOption = Annotated[
    LogFormat,
    typer.Option("--log-format", envvar="DATAMGR_LOG_FORMAT", help="Log lines on stderr as text or JSON objects."),
]
VersionOption = Annotated[
    bool,
    typer.Option("--version", callback=print_version, is_eager=True, help="Print the version and exit."),
]

# Options several commands share.
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
ModelIdArgument = Annotated[int, typer.Argument(help="The model's id (see `datamgr models`).", show_default=False)]
WindowOption = Annotated[
    str | None,
    typer.Option("--window", "-w", help="Window length: 30m, 6h, 1d, 7d … [default: monitoring.window]."),
]

# One command's own options, in the order of the commands.
NoHistoryOption = Annotated[
    bool,
    typer.Option("--no-history", help="Create the schema only; do not load the history file."),
]
FilesArgument = Annotated[list[Path], typer.Argument(help="Parquet or CSV files to upsert.", show_default=False)]
IgnoreUnknownOption = Annotated[
    bool,
    typer.Option(
        "--ignore-unknown-columns",
        help="Skip columns the table does not have instead of failing (each is named in a WARNING).",
    ),
]
StrictOption = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Fail (exit 1, nothing written) on any warning: quarantined rows, duplicate timestamps, "
        "a file without rows, ignored columns.",
    ),
]
ReplaceBlanksOption = Annotated[
    bool,
    typer.Option(
        "--replace-blanks",
        help="Let blank values overwrite stored ones (by default a blank keeps the stored value).",
    ),
]
DelimiterOption = Annotated[
    str | None,
    typer.Option(
        "--delimiter",
        callback=delimiter,
        help="CSV delimiter, one character (tab: 'tab') [default: detected among , ; tab].",
    ),
]
DecimalOption = Annotated[
    str | None,
    typer.Option(
        "--decimal",
        callback=decimal,
        help="CSV decimal separator, . or , [default: detected; , only when the delimiter is not ,].",
    ),
]
FileTurbineOption = Annotated[
    str | None,
    typer.Option(
        "--turbine",
        "-T",
        help="Turbine of files without a turbine_id column [default: data_manager.default_turbine_id].",
        show_default=False,
    ),
]
CountArgument = Annotated[
    int, typer.Argument(help="How many of the newest rows (of each turbine).", show_default=False)
]
ExportOutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Target .parquet or .csv [default: data_manager.prod_data_path]."),
]
SeedOption = Annotated[int, typer.Option(min=0, help="Random seed (0 or more); the same seed gives the same files.")]
InferencePathOption = Annotated[
    Path, typer.Option("--inference-path", help="Where the four weeks after the history go.")
]
FarmOption = Annotated[
    int,
    typer.Option(
        "--turbines",
        min=0,
        max=4,
        help="0: the lesson's single turbine. 1-4: a farm, written as a vendor export "
        "(config/farm.yml maps its columns).",
    ),
]
ForceOption = Annotated[bool, typer.Option("--force", help="Train even when the newest model is up to date.")]
BatchSizeOption = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        "-n",
        help="How many of each turbine's newest rows [default: inference_pipeline.batch_size].",
    ),
]
BackfillStartOption = Annotated[
    str | None,
    typer.Option("--start", "-s", help="Backfill: predict every row from this timestamp (instead of the newest)."),
]
BackfillEndOption = Annotated[
    str | None,
    typer.Option("--end", "-e", help="Backfill: up to this timestamp, inclusive [default: the newest row]."),
]
PredictModelOption = Annotated[
    int | None,
    typer.Option("--model-id", "-m", help="Registered model to use [default: each turbine's newest]."),
]
EvaluateModelOption = Annotated[
    int | None, typer.Option("--model-id", "-m", help="Only this model [default: every model].")
]
WindowStartOption = Annotated[str | None, typer.Option("--start", "-s", help="First window to show, by time.")]
WindowEndOption = Annotated[str | None, typer.Option("--end", "-e", help="Last window to show, by time.")]
ByOption = Annotated[
    str | None, typer.Option("--by", help="`wind-speed`: MAE per 1 m/s wind-speed bin instead of per window.")
]
CheckOption = Annotated[bool, typer.Option("--check", help="Exit 1 when any window shown is flagged (for cron).")]
ReportOutputOption = Annotated[
    Path, typer.Option("--output", "-o", help="The .html file to write.", show_default=False)
]
ShownStartOption = Annotated[str | None, typer.Option("--start", "-s", help="First timestamp shown.")]
ShownEndOption = Annotated[str | None, typer.Option("--end", "-e", help="Last timestamp shown.")]
WarnAfterOption = Annotated[
    str | None, typer.Option("--warn-after", help="Lag that is a WARNING [default: monitoring.warn_after].")
]
ErrorAfterOption = Annotated[
    str | None,
    typer.Option("--error-after", help="Lag that is CRITICAL [default: monitoring.error_after]."),
]
AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="Judge as of this instant instead of now (tests, replays).")
]
StatusFormatOption = Annotated[
    StatusFormat | None,
    typer.Option("--format", "-f", help="table, json, or nagios (one status line with perfdata)."),
]
