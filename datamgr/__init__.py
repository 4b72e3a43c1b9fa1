"""datamgr: a wind turbine's SCADA history in a database, and a power model run against it."""

__version__ = "0.1.0"
