"""The layout's rules, checked on datamgr's own import graph (tests/import_graph.py): no import
cycle, no import of another module's `_private` name, pipelines apart from SQLAlchemy and the
store, no module past 600 lines, and the backend chosen in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

import datamgr
from tests import import_graph
from tests.import_graph import Module

MAX_LINES = 600
# Alembic revision files are a migration each, written once: their length says nothing of the design.
NOT_COUNTED = ("/migrations/versions/",)
# The two places that may look at which backend they are on: engine set-up, and the choice of bulk writer.
CHOOSE_BACKEND = ("datamgr.store.engine", "datamgr.store.bulk")


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return import_graph.load(Path(datamgr.__file__).parent)


def report(findings: list[str]) -> str:
    return "\n" + "\n".join(findings)


def test_no_import_cycle(modules: dict[str, Module]) -> None:
    findings = import_graph.cycles(modules)
    assert not findings, report(findings)


def test_no_module_imports_another_modules_private_name(modules: dict[str, Module]) -> None:
    findings = import_graph.private_imports(modules)
    assert not findings, report(findings)


def test_pipelines_import_neither_sqlalchemy_nor_the_store(modules: dict[str, Module]) -> None:
    findings = import_graph.forbidden_imports(modules, "datamgr.pipelines", ["sqlalchemy", "datamgr.store"])
    assert not findings, report(findings)


def test_no_module_is_over_600_lines(modules: dict[str, Module]) -> None:
    findings = import_graph.long_modules(modules, MAX_LINES, exclude=NOT_COUNTED)
    assert not findings, report(findings)


def test_the_backend_is_looked_at_only_where_it_is_chosen(modules: dict[str, Module]) -> None:
    findings = import_graph.dialect_checks(modules, allowed=CHOOSE_BACKEND)
    assert not findings, report(findings)
