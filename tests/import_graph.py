"""datamgr's import graph, read with `ast` (nothing imported, nothing run), and the layout rules
checked against it: no cycle, no other module's `_private` name, pure pipelines, short modules,
dialect branches in one place.

Every import counts, at module level or inside a function (a function-local import hides a cycle,
it does not break it), except those under `if TYPE_CHECKING:`, which never run. Each finding is one
line naming the file and line, so that a failure says where to look.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Module:
    name: str  # dotted: datamgr.store.repository; a package is named by its __init__.py
    path: str  # as shown in findings: relative to the folder holding the package
    is_package: bool
    text: str = field(repr=False)
    tree: ast.Module = field(repr=False)

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


@dataclass(frozen=True)
class Import:
    """One imported module (and, for `from M import n` where n is no module, the name n)."""

    source: Module
    line: int
    target: str
    name: str | None
    local: bool  # inside a function
    type_checking: bool  # under `if TYPE_CHECKING:`


def describe(records: Iterable[Import]) -> list[str]:
    """One line per import statement and module, in file order: `path:line a imports b (x, y)`."""
    grouped: dict[tuple[str, int, str, str, bool], list[str]] = {}
    for r in records:
        names = grouped.setdefault((r.source.path, r.line, r.source.name, r.target, r.local), [])
        if r.name:
            names.append(r.name)
    lines = []
    for (path, line, source, target, local), names in sorted(grouped.items()):
        what = f" ({', '.join(names)})" if names else ""
        where = " (in a function)" if local else ""
        lines.append(f"{path}:{line} {source} imports {target}{what}{where}")
    return lines


def load(package: Path) -> dict[str, Module]:
    """Every .py file of the package folder, by module name."""
    modules: dict[str, Module] = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        text = path.read_text(encoding="utf-8")
        shown = path.relative_to(package.parent).as_posix()
        name = ".".join(parts)
        modules[name] = Module(name, shown, is_package, text, ast.parse(text, filename=shown))
    return modules


def imports(modules: dict[str, Module]) -> list[Import]:
    """Every import statement of every module, one record per imported module or name."""
    found: list[Import] = []
    for module in modules.values():
        found.extend(_imports_in(module, modules))
    return found


def _imports_in(module: Module, modules: dict[str, Module]) -> Iterator[Import]:
    def visit(node: ast.AST, local: bool, type_checking: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, node.lineno, alias.name, None, local, type_checking)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node.module, node.level)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in modules:
                    yield Import(module, node.lineno, submodule, None, local, type_checking)
                else:
                    yield Import(module, node.lineno, base, alias.name, local, type_checking)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                yield from visit(statement, local, True)
            for statement in node.orelse:
                yield from visit(statement, local, type_checking)
        else:
            inner = local or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            for child in ast.iter_child_nodes(node):
                yield from visit(child, inner, type_checking)

    return visit(module.tree, False, False)


def _absolute(module: Module, name: str | None, level: int) -> str:
    """The module a `from … import` names, relative imports resolved against the importing module."""
    if level == 0:
        return name or ""
    parts = module.name.split(".")
    if not module.is_package:
        parts.pop()
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, name] if name else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _within(target: str, prefixes: Iterable[str]) -> bool:
    return any(target == prefix or target.startswith(f"{prefix}.") for prefix in prefixes)


def cycles(modules: dict[str, Module]) -> list[str]:
    """Each group of modules that import each other in a circle, with the imports that close it."""
    edges: dict[str, list[Import]] = {name: [] for name in modules}
    for record in imports(modules):
        if not record.type_checking and record.target in modules and record.target != record.source.name:
            edges[record.source.name].append(record)
    findings = []
    for group in _strongly_connected({name: [e.target for e in out] for name, out in edges.items()}):
        if len(group) < 2:
            continue
        inside = describe(e for name in group for e in edges[name] if e.target in group)
        findings.append(f"import cycle among {', '.join(sorted(group))}:\n  " + "\n  ".join(inside))
    return sorted(findings)


def _strongly_connected(graph: dict[str, list[str]]) -> list[set[str]]:
    """Tarjan's algorithm: the graph's strongly connected components."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return groups


def private_imports(modules: dict[str, Module]) -> list[str]:
    """Every use of another module's `_private` name: `from m import _x`, or `m._x` on an imported module."""
    findings: set[tuple[str, int, str]] = set()
    for record in imports(modules):
        private = record.name is not None and _is_private(record.name)
        if private and record.target in modules and record.target != record.source.name:
            findings.add((record.source.path, record.line, f"imports {record.target}.{record.name}"))
    for module in modules.values():
        bound = _bound_modules(module, modules)
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.Attribute):
                continue
            chain = _chain(node)
            if chain is None or chain[0] not in bound:
                continue
            target = bound[chain[0]]
            for attribute in chain[1:]:
                if f"{target}.{attribute}" in modules:
                    target = f"{target}.{attribute}"
                    continue
                if _is_private(attribute) and target != module.name:
                    findings.add((module.path, node.lineno, f"uses {target}.{attribute}"))
                break
    return [f"{path}:{line} {what}" for path, line, what in sorted(findings)]


def _bound_modules(module: Module, modules: dict[str, Module]) -> dict[str, str]:
    """The names a module binds to modules of the package: `import a.b` binds a, `import a.b as c` c,
    `from a import b` (b a module) b."""
    bound: dict[str, str] = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node.module, node.level)
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    bound[alias.asname or alias.name] = f"{base}.{alias.name}"
    return {name: target for name, target in bound.items() if target in modules}


def _chain(node: ast.Attribute) -> list[str] | None:
    """`a.b.c` as ["a", "b", "c"]; None when the chain does not start at a plain name."""
    parts: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name):
        return None
    return [current.id, *reversed(parts)]


def forbidden_imports(modules: dict[str, Module], under: str, forbidden: Sequence[str]) -> list[str]:
    """Every import, under the package `under`, of a module in `forbidden` (or below one), even one
    made only for type checking (a signature that takes a Connection ties the code to the store all
    the same); and every module of the package that, imported from there, loads one at import time."""
    records = imports(modules)
    mine = [r for r in records if _within(r.source.name, [under])]
    found = describe(r for r in mine if _within(r.target, forbidden))
    loads: dict[str, list[Import]] = {name: [] for name in modules}
    for record in records:
        if not record.local and not record.type_checking:
            loads[record.source.name].append(record)
    for record in mine:
        if record.local or record.type_checking or record.target not in modules:
            continue
        if _within(record.target, [under, *forbidden]):
            continue  # its own imports are checked above, or it is reported above
        chain = _chain_to(record.target, forbidden, modules, loads)
        if chain:
            (line,) = describe([record])
            found.append(f"{line}, which loads {chain[-1]} when imported: {' -> '.join(chain)}")
    return sorted(set(found), key=_by_place)


def _chain_to(
    start: str, forbidden: Sequence[str], modules: dict[str, Module], loads: dict[str, list[Import]]
) -> list[str] | None:
    """The shortest chain of module-level imports from `start` to a forbidden module, or None.
    Importing a module runs its packages' __init__ first, so those count as imported by it."""
    seen, queue = {start}, [[start]]
    while queue:
        chain = queue.pop(0)
        parents = [p for p in _parents(chain[-1]) if p in modules]
        for target in [*parents, *(r.target for r in loads[chain[-1]])]:
            if _within(target, forbidden):
                return [*chain, target]
            if target in modules and target not in seen:
                seen.add(target)
                queue.append([*chain, target])
    return None


def _by_place(finding: str) -> tuple[str, int, str]:
    """path:line … findings in file order (line 9 before line 10)."""
    place, _, rest = finding.partition(" ")
    path, _, line = place.rpartition(":")
    return path, int(line) if line.isdigit() else 0, rest


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def long_modules(modules: dict[str, Module], limit: int, exclude: Sequence[str] = ()) -> list[str]:
    """Modules over `limit` lines, except those whose path contains one of `exclude`."""
    return [
        f"{module.path}: {len(module.lines)} lines (at most {limit})"
        for module in modules.values()
        if len(module.lines) > limit and not any(part in module.path for part in exclude)
    ]


def dialect_checks(modules: dict[str, Module], allowed: Sequence[str]) -> list[str]:
    """Every reading of a dialect's name (`….dialect.name`, `url.get_backend_name()`) outside the
    modules `allowed` to choose a backend."""
    findings: set[tuple[str, int, str]] = set()
    for module in modules.values():
        if module.name in allowed:
            continue
        for node in ast.walk(module.tree):
            if isinstance(node, ast.expr) and _reads_dialect_name(node):
                findings.add((module.path, node.lineno, module.lines[node.lineno - 1].strip()))
    return [f"{path}:{line} {text}" for path, line, text in sorted(findings)]


def _reads_dialect_name(node: ast.expr) -> bool:
    if isinstance(node, ast.Attribute) and node.attr == "name":
        owner = node.value
        return (isinstance(owner, ast.Name) and owner.id == "dialect") or (
            isinstance(owner, ast.Attribute) and owner.attr == "dialect"
        )
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get_backend_name"
