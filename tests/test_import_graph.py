"""The import-graph checks of tests/test_architecture.py, on small packages written for each case:
each finds what it must (naming the file and line) and nothing else."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests import import_graph
from tests.import_graph import Module


def package(root: Path, files: dict[str, str]) -> dict[str, Module]:
    """A package `pkg` in `root` with the given files (paths inside it), parsed."""
    folder = root / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return import_graph.load(folder)


def test_modules_are_named_as_python_imports_them(tmp_path: Path) -> None:
    modules = package(tmp_path, {"a.py": "", "sub/__init__.py": "", "sub/b.py": ""})
    assert sorted(modules) == ["pkg", "pkg.a", "pkg.sub", "pkg.sub.b"]
    assert (modules["pkg.sub"].path, modules["pkg.sub"].is_package) == ("pkg/sub/__init__.py", True)
    assert (modules["pkg.sub.b"].path, modules["pkg.sub.b"].is_package) == ("pkg/sub/b.py", False)


def test_a_dag_has_no_cycle(tmp_path: Path) -> None:
    modules = package(
        tmp_path, {"a.py": "import pkg.b\nfrom pkg import c\n", "b.py": "from pkg.c import x\n", "c.py": ""}
    )
    assert import_graph.cycles(modules) == []


def test_a_cycle_through_a_function_local_import_is_found_with_its_lines(tmp_path: Path) -> None:
    modules = package(
        tmp_path,
        {
            "a.py": "import os\nfrom pkg.b import helper\n",
            "b.py": """\
                def helper() -> None:
                    from pkg.a import thing, other
            """,
        },
    )
    assert import_graph.cycles(modules) == [
        "import cycle among pkg.a, pkg.b:\n"
        "  pkg/a.py:2 pkg.a imports pkg.b (helper)\n"
        "  pkg/b.py:2 pkg.b imports pkg.a (thing, other) (in a function)"
    ]


def test_a_longer_cycle_with_relative_imports_and_submodules_is_one_group(tmp_path: Path) -> None:
    modules = package(
        tmp_path,
        {
            "a.py": "from . import b\n",  # b is a module: the edge goes to pkg.b, not to pkg
            "b.py": "from .sub import c\n",
            "sub/__init__.py": "",
            "sub/c.py": "from ..a import x\n",
            "d.py": "import pkg.a\n",  # imports the cycle without being part of it
        },
    )
    assert import_graph.cycles(modules) == [
        "import cycle among pkg.a, pkg.b, pkg.sub.c:\n"
        "  pkg/a.py:1 pkg.a imports pkg.b\n"
        "  pkg/b.py:1 pkg.b imports pkg.sub.c\n"
        "  pkg/sub/c.py:1 pkg.sub.c imports pkg.a (x)"
    ]


def test_a_relative_import_in_a_package_init_is_taken_from_that_package(tmp_path: Path) -> None:
    modules = package(tmp_path, {"sub/__init__.py": "from .c import x\n", "sub/c.py": "from pkg.sub import y\n"})
    assert import_graph.cycles(modules) == [
        "import cycle among pkg.sub, pkg.sub.c:\n"
        "  pkg/sub/__init__.py:1 pkg.sub imports pkg.sub.c (x)\n"
        "  pkg/sub/c.py:1 pkg.sub.c imports pkg.sub (y)"
    ]


def test_imports_for_type_checking_only_make_no_cycle(tmp_path: Path) -> None:
    modules = package(
        tmp_path,
        {
            "a.py": "from pkg.b import B\n",
            "b.py": """\
                import typing
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from pkg.a import A
                if typing.TYPE_CHECKING:
                    import pkg.a
                else:
                    import os
            """,
        },
    )
    assert import_graph.cycles(modules) == []
    # ... but the else branch of the same `if` runs.
    otherwise = "if TYPE_CHECKING:\n    pass\nelse:\n    import pkg.a\n"
    modules = package(tmp_path / "other", {"a.py": "import pkg.b\n", "b.py": otherwise})
    assert import_graph.cycles(modules) == [
        "import cycle among pkg.a, pkg.b:\n  pkg/a.py:1 pkg.a imports pkg.b\n  pkg/b.py:4 pkg.b imports pkg.a"
    ]


def test_private_names_of_other_modules_are_found_however_reached(tmp_path: Path) -> None:
    modules = package(
        tmp_path,
        {
            "a.py": "_secret = 1\n_other = 2\npublic = 3\n__version__ = '1'\n",
            "sub/__init__.py": "",
            "sub/b.py": "def _hidden() -> None: ...\n",
            "user.py": """\
                import pkg.a
                import pkg.sub.b as b
                from pkg import a as alias
                from pkg.a import _secret, public, __version__
                from .sub import b as relative

                def f() -> None:
                    from pkg.a import _other
                    pkg.a._other
                    b._hidden()
                    alias._secret
                    relative._hidden
                    alias.public
                    pkg.sub.b._hidden
            """,
        },
    )
    assert import_graph.private_imports(modules) == [
        "pkg/user.py:4 imports pkg.a._secret",
        "pkg/user.py:8 imports pkg.a._other",
        "pkg/user.py:9 uses pkg.a._other",
        "pkg/user.py:10 uses pkg.sub.b._hidden",
        "pkg/user.py:11 uses pkg.a._secret",
        "pkg/user.py:12 uses pkg.sub.b._hidden",
        "pkg/user.py:14 uses pkg.sub.b._hidden",
    ]


def test_own_private_names_and_those_of_other_packages_or_objects_are_fine(tmp_path: Path) -> None:
    modules = package(
        tmp_path,
        {
            "a.py": """\
                import os
                from os import _exit
                from pkg import b
                _mine = 1

                def f(thing: object) -> None:
                    from pkg.a import _mine
                    os._exit
                    thing._private
                    b.Public._private
                    b.__name__
            """,
            "b.py": "class Public:\n    _private = 1\n",
            "_internal.py": "",
            "c.py": "from pkg import _internal\n",  # a private module is imported by its name, not a name of a module
        },
    )
    assert import_graph.private_imports(modules) == []


def test_pipelines_may_not_import_the_forbidden_modules_directly_or_through_others(tmp_path: Path) -> None:
    modules = package(
        tmp_path,
        {
            "store/__init__.py": "",
            "store/schema.py": "import sqlalchemy\n",
            "errors.py": "",
            "helpers.py": "from pkg.store import schema\n",
            "lazy.py": "def f() -> None:\n    import sqlalchemy\n",
            "pipelines/__init__.py": "",
            # a name that only starts like a forbidden one; a module that imports it in a function only
            "pipelines/fine.py": "import sqlalchemy_utils\nfrom pkg.errors import E\nfrom pkg import lazy\n",
            "pipelines/bad.py": """\
                from typing import TYPE_CHECKING
                from sqlalchemy.engine import Connection
                import pkg.store.schema
                from pkg.store import schema
                from pkg.helpers import thing
                from ..store.schema import raw_data
                if TYPE_CHECKING:
                    import sqlalchemy.orm

                def f() -> None:
                    import sqlalchemy
            """,
            "outside.py": "import sqlalchemy\nfrom pkg.store import schema\n",
        },
    )
    assert import_graph.forbidden_imports(modules, "pkg.pipelines", ["sqlalchemy", "pkg.store"]) == [
        "pkg/pipelines/bad.py:2 pkg.pipelines.bad imports sqlalchemy.engine (Connection)",
        "pkg/pipelines/bad.py:3 pkg.pipelines.bad imports pkg.store.schema",
        "pkg/pipelines/bad.py:4 pkg.pipelines.bad imports pkg.store.schema",
        "pkg/pipelines/bad.py:5 pkg.pipelines.bad imports pkg.helpers (thing), which loads pkg.store.schema when "
        "imported: pkg.helpers -> pkg.store.schema",
        "pkg/pipelines/bad.py:6 pkg.pipelines.bad imports pkg.store.schema (raw_data)",
        "pkg/pipelines/bad.py:8 pkg.pipelines.bad imports sqlalchemy.orm",
        "pkg/pipelines/bad.py:11 pkg.pipelines.bad imports sqlalchemy (in a function)",
    ]


def test_a_package_init_is_loaded_with_its_modules(tmp_path: Path) -> None:
    modules = package(
        tmp_path,
        {
            "tools/__init__.py": "import sqlalchemy\n",
            "tools/pure.py": "",
            "pipelines/__init__.py": "",
            "pipelines/p.py": "from pkg.tools.pure import x\n",
        },
    )
    assert import_graph.forbidden_imports(modules, "pkg.pipelines", ["sqlalchemy"]) == [
        "pkg/pipelines/p.py:1 pkg.pipelines.p imports pkg.tools.pure (x), which loads sqlalchemy when imported: "
        "pkg.tools.pure -> pkg.tools -> sqlalchemy"
    ]


def test_long_modules_are_named_with_their_length_and_revisions_are_not_counted(tmp_path: Path) -> None:
    modules = package(
        tmp_path,
        {
            "short.py": "x = 1\n" * 600,
            "long.py": "x = 1\n" * 601,
            "migrations/versions/0001_first.py": "x = 1\n" * 900,
            "migrations/env.py": "x = 1\n" * 700,
        },
    )
    assert sorted(import_graph.long_modules(modules, 600, exclude=["/migrations/versions/"])) == [
        "pkg/long.py: 601 lines (at most 600)",
        "pkg/migrations/env.py: 700 lines (at most 600)",
    ]


def test_dialect_checks_are_found_outside_the_modules_that_choose_the_backend(tmp_path: Path) -> None:
    source = """\
        def f(connection, dialect, url, turbine):
            if connection.dialect.name == "sqlite":
                pass
            sqlite = dialect.name != "postgresql"
            writer = WRITERS[self.connection.dialect.name]
            backend = url.get_backend_name()
            name = turbine.name == "T01"
            compiled = str(statement.compile(dialect=connection.dialect))
    """
    modules = package(tmp_path, {"engine.py": source, "bulk/__init__.py": source, "store.py": source})
    assert import_graph.dialect_checks(modules, allowed=["pkg.engine", "pkg.bulk"]) == [
        'pkg/store.py:2 if connection.dialect.name == "sqlite":',
        'pkg/store.py:4 sqlite = dialect.name != "postgresql"',
        "pkg/store.py:5 writer = WRITERS[self.connection.dialect.name]",
        "pkg/store.py:6 backend = url.get_backend_name()",
    ]
