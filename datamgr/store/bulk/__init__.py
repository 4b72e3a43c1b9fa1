"""One bulk writer per backend, behind repository.upsert: SQLite (Arrow through ADBC into a
scratch file, merged in the command's transaction) and PostgreSQL (binary COPY)."""
