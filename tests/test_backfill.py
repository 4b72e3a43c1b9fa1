"""A backfill (`predict --start/--end`) commits per turbine: a failure part-way says exactly which
turbines' predictions were stored, and those stay stored."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Invoke, Project


def two_trained_turbines(project: Project, cli: Invoke) -> None:
    """T01 from the sample history, T02 from a copy of its first 400 rows; a model for each."""
    copy = project.root / "t02.csv"
    assert cli("range", "--start", "2007-07-15", "--end", "2007-07-17 18:30", "-o", copy).exit_code == 0
    lines = copy.read_text().splitlines()
    header = lines[0].split(",")
    kept = [i for i, name in enumerate(header) if name != "turbine_id"]
    copy.write_text("\n".join(",".join(line.split(",")[i] for i in kept) for line in lines) + "\n")
    assert cli("ingest", "--turbine", "T02", copy).exit_code == 0
    trained = cli("train")
    assert trained.exit_code == 0, trained.stderr
    (t02_model,) = project.sql("SELECT id FROM model_runs WHERE turbine_id = 'T02'")[0]
    assert cli("models", "activate", t02_model).exit_code == 0  # 400 rows may not beat its power curve


def artifact_of(project: Project, turbine: str) -> Path:
    (path,) = project.sql(f"SELECT artifact_path FROM model_runs WHERE turbine_id = '{turbine}' AND active")[0]
    return project.root / "models" / path  # stored relative to training_pipeline.models_dir


def test_a_backfill_that_fails_part_way_names_the_turbines_it_stored(initialized: Project, cli: Invoke) -> None:
    two_trained_turbines(initialized, cli)
    artifact = artifact_of(initialized, "T02")
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    (t01_model,) = initialized.sql("SELECT id FROM model_runs WHERE turbine_id = 'T01' AND active")[0]
    (t02_model,) = initialized.sql("SELECT id FROM model_runs WHERE turbine_id = 'T02' AND active")[0]

    outcome = cli("predict", "--start", "2007-07-15", "--end", "2007-07-16")

    assert outcome.exit_code == 1
    assert outcome.stderr.startswith(f"Error: predict T02: model {t02_model}: artifact ")
    assert outcome.stderr.endswith(
        f"; the predictions of T01 (model {t01_model}) were stored and committed; T02 and the turbines after it "
        "were not: fix the cause and run the same command again (stored predictions are left as they are)\n"
    )
    stored = dict(initialized.sql("SELECT turbine_id, count(*) FROM predictions GROUP BY turbine_id"))
    in_range = cli("range", "--start", "2007-07-15", "--end", "2007-07-16", "-T", "T01", "-f", "csv").stdout
    assert stored == {"T01": len(in_range.splitlines()) - 1} == {"T01": 138}


def test_a_backfill_that_fails_on_its_first_turbine_stores_nothing(initialized: Project, cli: Invoke) -> None:
    two_trained_turbines(initialized, cli)
    artifact = artifact_of(initialized, "T01")
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    before = initialized.snapshot()

    outcome = cli("predict", "--start", "2007-07-15", "--end", "2007-07-16")

    assert outcome.exit_code == 1
    assert "changed on disk" in outcome.stderr and "were stored" not in outcome.stderr
    assert initialized.snapshot() == before
