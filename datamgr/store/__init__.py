"""The database layer: SQLAlchemy Core only. Functions take a Connection and return data; none print."""
