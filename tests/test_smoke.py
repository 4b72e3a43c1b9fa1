"""The installed `datamgr` command as cron runs it: a real process, no terminal, real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Project

DATAMGR = shutil.which("datamgr", path=str(Path(sys.executable).parent)) or shutil.which("datamgr")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert DATAMGR, "the datamgr console script is not installed"
    return subprocess.run([DATAMGR, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=os.environ)


def test_pipeline_end_to_end_in_subprocesses(project: Project) -> None:
    init = run("init-db", cwd=project.root)
    assert init.returncode == 0, init.stderr
    first = run("ingest", str(project.files.inference), cwd=project.root)
    second = run("ingest", str(project.files.inference), cwd=project.root)
    rows = len(project.files.inference_frame)
    assert first.stderr.split(" INFO ")[1] == (
        f"ingest {project.files.inference} -> raw_data: {rows} rows read, {rows} inserted, 0 updated, 0 unchanged\n"
    )
    assert second.stderr.split(" INFO ")[1].endswith(f"0 inserted, 0 updated, {rows} unchanged\n")
    last = run("last-n", "5", "--format", "json", cwd=project.root)
    assert [r["Timestamps"] for r in json.loads(last.stdout)][-1] == "2007-10-14T23:50:00Z"
    piped = run("last-n", "2", cwd=project.root)  # not a terminal: CSV, not a table
    assert piped.stdout.splitlines()[0].startswith("turbine_id,Timestamps,WindSpeed,")
    assert run("train", cwd=project.root).returncode == 0
    predicted = run("--quiet", "predict", "--batch-size", "32", "--format", "csv", cwd=project.root)
    assert (predicted.returncode, predicted.stderr) == (0, "")
    assert len(predicted.stdout.splitlines()) == 33
    assert run("ingest", str(project.files.inference), cwd=project.root).returncode == 0
    quiet = run("--quiet", "predict", "--batch-size", "32", cwd=project.root)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")  # cron mails any output


@pytest.mark.sqlite_only
def test_error_is_one_line_on_stderr_with_exit_1(project: Project) -> None:
    result = run("last-n", "5", cwd=project.root)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"Error: database file {project.db_path} does not exist; run `datamgr init-db` first\n"


# The libraries, and datamgr's own modules that only ingest needs (reading and conforming files).
HEAVY = ("sklearn", "skops", "scipy", "pandas", "numpy", "pyarrow", "datamgr.conform", "datamgr.files")


@pytest.mark.parametrize("args", [["--help"], ["last-n", "3", "--format", "csv"], ["last-n", "3", "-f", "json"]])
def test_help_and_last_n_start_without_heavy_imports(initialized: Project, args: list[str]) -> None:
    """`--help` and `last-n` are what people and scripts run most: no pandas, no scikit-learn, no ingest code."""
    code = (
        "import sys\n"
        "from datamgr.cli import main\n"
        f"sys.argv = ['datamgr', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=initialized.root, capture_output=True, text=True, timeout=60
    )
    assert "HEAVY []" in result.stderr, result.stderr
    if args[0] == "last-n":
        assert len(result.stdout.splitlines()) in (4, 5)  # csv: header + 3; json: brackets + 3


def test_help_does_not_import_sqlalchemy_either(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom datamgr.cli import main\nsys.argv = ['datamgr', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(m for m in ('sqlalchemy', 'pydantic') if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "LOADED []" in result.stderr, result.stderr
