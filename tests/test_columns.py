"""The data model's names: one module that imports nothing, and the schema built from the same names."""

from __future__ import annotations

import ast
from pathlib import Path

from datamgr import columns
from datamgr.store import schema


def test_columns_imports_nothing() -> None:
    tree = ast.parse(Path(columns.__file__).read_text())
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]
    assert [ast.unparse(node) for node in imports] == ["from __future__ import annotations"]


def test_the_schema_uses_and_re_exports_the_same_names() -> None:
    assert (schema.TURBINE, schema.TIMESTAMP) == columns.KEY == ("turbine_id", "Timestamps")
    assert schema.SENSOR_COLUMNS is columns.SENSOR_COLUMNS
    assert schema.PROVENANCE_COLUMNS is columns.PROVENANCE_COLUMNS == frozenset({"created_at"})
    assert [c.name for c in schema.raw_data.columns] == [columns.TURBINE, columns.TIMESTAMP, *columns.SENSOR_COLUMNS]
    assert schema.TIME_SERIES_KEYS["raw_data"] == columns.KEY
    assert [c.name for c in schema.predictions.primary_key] == [columns.MODEL_ID, *columns.KEY]
    assert columns.PREDICTED_POWER in schema.predictions.columns
    assert {columns.TARGET, columns.WIND_SPEED} <= set(columns.SENSOR_COLUMNS)
