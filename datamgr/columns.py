"""The data model's column names: the key, the sensors, the target.

Pipelines and monitoring speak of columns by these names without importing the store (or
SQLAlchemy); datamgr.store.schema builds its tables from them. This module imports nothing.
"""

from __future__ import annotations

# Every time series is keyed by turbine and time (UTC), as OpenOA's scada table is by (asset_id, time).
TURBINE = "turbine_id"
TIMESTAMP = "Timestamps"
KEY = (TURBINE, TIMESTAMP)

# The lesson's 10-minute SCADA readings, in the order of its history file.
SENSOR_COLUMNS = (
    "WindSpeed",
    "WindDirAbs",
    "WindDirRel",
    "Power",
    "Pitch",
    "GenRPM",
    "RotorRPM",
    "EnvirTemp",
    "NacelTemp",
    "GearOilTemp",
    "GearBearTemp",
    "GenPh1Temp",
    "GenBearTemp",
)
WIND_SPEED = "WindSpeed"  # what the binned power curve (the baseline) reads
TARGET = "Power"  # what the model predicts, in kW

# A prediction: the model that made it and its value, next to the row's key.
MODEL_ID = "model_id"
PREDICTED_POWER = "predicted_power"

# Columns written along with a change but never a change by themselves: predicting the same
# value again leaves the row (and when it was first predicted) as it is.
CREATED_AT = "created_at"
PROVENANCE_COLUMNS = frozenset({CREATED_AT})
