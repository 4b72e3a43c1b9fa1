"""The data model's column names, in one module that imports nothing: the store, the pipelines
and the settings all speak these."""

TIMESTAMP = "Timestamps"
TURBINE = "turbine_id"
TARGET = "Power"
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
