"""Alembic's script directory: env.py, script.py.mako and versions/.

It lives at the top of the repository and is installed as `datamgr.migrations` (see
pyproject.toml), so that an installed datamgr creates and upgrades databases; being a package
lets datamgr.store.migrate find it, from a checkout and from a wheel alike.
"""
