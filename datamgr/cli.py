"""The datamgr commands: each parses its options, calls one service function and renders what it returns.

Options are declared in cli_args, the error path is in cli_context, the wording of each line in messages.

Exit codes: 0 success; 1 a data, database or runtime error (one `Error: …` line on stderr);
2 a usage error (unknown option, missing or malformed argument), found before any work;
130 interrupted; 141 the reader of stdout went away (`datamgr … | head`), as for any Unix tool.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from datamgr import cli_args as opts
from datamgr import errors, messages
from datamgr.cli_context import State, emit, progress, reported, show, stages
from datamgr.errors import CommittedError, UsageError
from datamgr.logs import LogFormat, configure_logging
from datamgr.render import OutputFormat, check_output, refuse_unsafe_target

log = logging.getLogger("datamgr")

app = typer.Typer(
    name="datamgr",
    cls=opts.DatamgrGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def main_options(
    ctx: typer.Context,
    config: opts.ConfigOption = None,
    db_url: opts.DbUrlOption = None,
    quiet: opts.QuietOption = False,
    verbose: opts.VerboseOption = False,
    log_format: opts.LogFormatOption = LogFormat.text,
    version: opts.VersionOption = False,
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
    configure_logging(log_format, quiet=quiet, verbose=verbose)


@app.command("init-db")
def init_db(ctx: typer.Context, no_history: opts.NoHistoryOption = False) -> None:
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
        emit(messages.init_db(report))


@app.command()
def ingest(
    ctx: typer.Context,
    files: opts.FilesArgument,
    table: opts.TableOption = None,
    ignore_unknown_columns: opts.IgnoreUnknownOption = False,
    strict: opts.StrictOption = False,
    replace_blanks: opts.ReplaceBlanksOption = False,
    delimiter: opts.DelimiterOption = None,
    decimal: opts.DecimalOption = None,
    turbine: opts.FileTurbineOption = None,
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
            with progress(state, "ingest", lambda: ingest_service.total_rows(files)) as advance:
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
        except errors.StrictRefusal as refusal:
            emit(*(messages.warning(line) for line in refusal.warnings))
            raise
        emit(*messages.ingest(report))


@app.command("last-n")
def last_n(
    ctx: typer.Context,
    n: opts.CountArgument,
    table: opts.TableOption = None,
    turbine: opts.TurbineOption = None,
    fmt: opts.FormatOption = None,
    output: opts.OutputOption = None,
) -> None:
    """Print the N newest rows of each turbine (or of one), by turbine and then oldest first.

    Example:

    \b
      datamgr last-n 100 --format json | jq '.[-1]'
      datamgr last-n 5 --turbine T02
    """
    with reported(ctx) as state:
        from datamgr.service import reads as reads_service

        check_output(output, state.database_file)
        frame = reads_service.last_n(state.engine(), state.settings(), n, table_name=table, turbine=turbine)
        show(frame, fmt, output, f"last {n} rows")


@app.command("range")
def range_(
    ctx: typer.Context,
    start: opts.StartOption = None,
    end: opts.EndOption = None,
    table: opts.TableOption = None,
    turbine: opts.TurbineOption = None,
    fmt: opts.FormatOption = None,
    output: opts.OutputOption = None,
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

        check_output(output, state.database_file)
        frame = reads_service.time_range(
            state.engine(), state.settings(), start, end, table_name=table, turbine=turbine
        )
        show(frame, fmt, output, "rows in range")


@app.command()
def export(
    ctx: typer.Context,
    table: opts.TableOption = None,
    turbine: opts.TurbineOption = None,
    output: opts.ExportOutputOption = None,
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
        check_output(target, state.database_file)
        frame = reads_service.export_table(state.engine(), settings, table_name=table, turbine=turbine)
        show(frame, None, target, "export")


@app.command("sample-data")
def sample_data(
    ctx: typer.Context,
    seed: opts.SeedOption = 20070701,
    inference_path: opts.InferencePathOption = Path("data/01_raw/inference_data.parquet"),
    turbines: opts.FarmOption = 0,
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
        log.info(messages.sample_data(files))


@app.command()
def train(
    ctx: typer.Context,
    start: opts.StartOption = None,
    end: opts.EndOption = None,
    turbine: opts.TurbineOption = None,
    fmt: opts.FormatOption = None,
    force: opts.ForceOption = False,
) -> None:
    """Fit a power model per turbine on a time range, evaluate each on the range's last part, register them.

    Prints each model's holdout MAE, RMSE and R² beside its binned power-curve baseline (under
    --quiet only with --format, so that a good cron run prints nothing). Models are saved with
    skops under training_pipeline.models_dir and recorded in model_runs with their turbine. A
    turbine whose newest model was trained on the same range and the same data (digest), with
    the same estimator and parameters, is up to date: nothing is trained for it (unless --force)
    and its metrics are printed. A turbine without enough rows in the range is
    skipped with a WARNING.

    Example:

    \b
      datamgr train --start 2007-07-29 --end 2008-02-22
      datamgr train --turbine T03 --force
    """
    with reported(ctx) as state:
        from datamgr.service import models as models_service

        with stages(state) as stage:
            report = models_service.train(
                state.engine(), state.settings(), start, end, turbine=turbine, force=force, stage=stage
            )
        if state.prints(fmt, None):
            show(models_service.metrics_frame(report), fmt, None, "models on their holdout")
        emit(*messages.train(report))


@app.command()
def predict(
    ctx: typer.Context,
    batch_size: opts.BatchSizeOption = None,
    start: opts.BackfillStartOption = None,
    end: opts.BackfillEndOption = None,
    model_id: opts.PredictModelOption = None,
    turbine: opts.TurbineOption = None,
    fmt: opts.FormatOption = None,
    output: opts.OutputOption = None,
) -> None:
    """Predict power for each turbine's newest rows with its model, and store each prediction with its model id.

    One cron line serves the farm: turbines without a model are named in a WARNING and skipped,
    and a turbine whose newest row its model already predicted is skipped. With --start/--end
    every row of the range is predicted, batch by batch (a backfill), and nothing is printed but
    the counts (with --output, the backfilled predictions go to that file). Predicting the same
    rows again with the same model leaves them as they are (reported as unchanged); it never
    duplicates. --output is checked before anything is stored.

    Example:

    \b
      datamgr predict --batch-size 32
      datamgr predict --start 2008-07-01 --end 2008-07-28
    """
    with reported(ctx) as state:
        from datamgr.service import predict as predict_service

        check_output(output, state.database_file)
        report = predict_service.predict(
            state.engine(),
            state.settings(),
            batch_size=batch_size,
            model_id=model_id,
            turbine=turbine,
            start=start,
            end=end,
            keep_backfill=output is not None,
        )
        if ((start is None and end is None) or output is not None) and state.prints(fmt, output):
            try:
                show(report.predictions, fmt, output, "predictions")
            except BrokenPipeError:
                raise  # `| head` read what it wanted: not a failure
            except Exception as exc:
                raise CommittedError(messages.predictions_not_printed(exc, report)) from exc
        emit(*messages.predict(report))


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
    ctx: typer.Context,
    turbine: opts.TurbineOption = None,
    fmt: opts.FormatOption = None,
    output: opts.OutputOption = None,
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

        check_output(output, state.database_file)
        show(models_service.list_models(state.engine(), turbine=turbine), fmt, output, "models")


@models_app.command("activate")
def models_activate(ctx: typer.Context, model_id: opts.ModelIdArgument) -> None:
    """Make a model its turbine's active one: the one predict uses from now on.

    Example:

    \b
      datamgr models activate 7
    """
    with reported(ctx) as state:
        from datamgr.service import models as models_service

        run = models_service.activate_model(state.engine(), model_id)
        log.info(messages.model_activated(model_id, run.turbine_id))


@models_app.command("retire")
def models_retire(ctx: typer.Context, model_id: opts.ModelIdArgument) -> None:
    """Stop using a model; its turbine has no active model until one is trained or activated.

    Example:

    \b
      datamgr models retire 7
    """
    with reported(ctx) as state:
        from datamgr.service import models as models_service

        run = models_service.retire_model(state.engine(), model_id)
        log.warning(messages.model_retired(model_id, run.turbine_id))


@app.command()
def evaluate(
    ctx: typer.Context,
    turbine: opts.TurbineOption = None,
    model_id: opts.EvaluateModelOption = None,
    start: opts.WindowStartOption = None,
    end: opts.WindowEndOption = None,
    window: opts.WindowOption = None,
    by: opts.ByOption = None,
    check: opts.CheckOption = False,
    fmt: opts.FormatOption = None,
    output: opts.OutputOption = None,
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
        check_output(output, state.database_file)
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
        if state.prints(fmt, output):
            show(shown, fmt, output, "MAE per wind-speed bin" if report.bins is not None else "evaluation")
        emit(*messages.evaluate(report, state.settings().monitoring.mae_alert_ratio))
        if check and len(report.alerts):
            raise typer.Exit(1)


@app.command()
def report(
    ctx: typer.Context,
    output: opts.ReportOutputOption,
    turbine: opts.TurbineOption = None,
    start: opts.ShownStartOption = None,
    end: opts.ShownEndOption = None,
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
        from datamgr.render import write_text
        from datamgr.service import monitoring as monitoring_service

        if output.suffix.lower() not in (".html", ".htm"):
            raise UsageError(f"--output {output}: the report is HTML; name a .html file")
        refuse_unsafe_target(output, state.database_file)
        data = monitoring_service.report_data(state.engine(), state.settings(), turbine=turbine, start=start, end=end)
        write_text(output, render_html(data))
        log.info(messages.report_written(data, output))


@app.command()
def status(
    ctx: typer.Context,
    turbine: opts.TurbineOption = None,
    warn_after: opts.WarnAfterOption = None,
    error_after: opts.ErrorAfterOption = None,
    as_of: opts.AsOfOption = None,
    fmt: opts.StatusFormatOption = None,
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
    nagios = fmt is opts.StatusFormat.nagios
    unknown = (lambda message: typer.echo(f"DATAMGR UNKNOWN - {message}")) if nagios else None
    with reported(ctx, failure_code=3, on_failure=unknown) as state:
        from datamgr.monitoring.status import nagios_line
        from datamgr.render import status_rows
        from datamgr.service import monitoring as monitoring_service

        report = monitoring_service.status(
            state.engine(),
            state.settings(),
            turbine=turbine,
            as_of=as_of,
            warn_after=warn_after,
            error_after=error_after,
        )
        if nagios:
            typer.echo(nagios_line(report.rows, report.state, report.warn_after, report.error_after))
        else:
            chosen = OutputFormat.json if fmt is opts.StatusFormat.json else None
            show(status_rows(report.rows), chosen, None, f"status: {report.state.name}")
    raise typer.Exit(int(report.state))


@app.command("turbines")
def turbines_(ctx: typer.Context, fmt: opts.FormatOption = None, output: opts.OutputOption = None) -> None:
    """List every turbine: its metadata (config section `turbines`), rows, first and last timestamp, quarantined rows.

    Example:

    \b
      datamgr turbines --format csv
    """
    with reported(ctx) as state:
        from datamgr.service import reads as reads_service

        check_output(output, state.database_file)
        show(reads_service.list_turbines(state.engine()), fmt, output, "turbines")


def main() -> None:
    """Console-script entry point."""
    app()
