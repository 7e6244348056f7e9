"""The layout's rules, checked on the source (every import, including those inside function bodies):

- a function (``functions/<name>/``) never imports another function, nor ``hub``;
- ``shared`` never imports a function nor ``hub``, and never names a function in a string (importlib);
- there is no import circle among our modules (type-only imports under ``TYPE_CHECKING`` excepted).

An import inside a function body still counts: that is how circles and cross-function reaches get hidden.
``importlib.import_module("x")`` with a literal name counts as an import of ``x``.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
FUNCTION_NAMES = frozenset(p.name for p in FUNCTIONS.iterdir() if (p / "__init__.py").is_file())

# Imports across the layers still allowed while a move is under way (none left: issue 9 moved them out).
# Each entry is (importer, imported); the test fails when one is no longer needed, so the list only shrinks.
PENDING: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    path: Path
    line: int
    type_only: bool

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.importer} imports {self.imported}"


def module_name(path: Path) -> str:
    relative = path.relative_to(FUNCTIONS if path.is_relative_to(FUNCTIONS) else ROOT).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for top in (ROOT / "shared", ROOT / "hub", *(FUNCTIONS / name for name in FUNCTION_NAMES)):
        for path in sorted(top.rglob("*.py")):
            found[module_name(path)] = path
    return found


MODULES = our_modules()


def owner(module: str) -> str:
    """`shared`, `hub`, or the function's name."""
    return module.split(".", 1)[0]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(module: str, is_package: bool, node: ast.AST) -> Iterator[str]:
    """The modules of ours an import statement (or a literal importlib call) loads."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = module if is_package else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        yield base
        for alias in node.names:
            yield f"{base}.{alias.name}"
    elif isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("import_module", "__import__") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield first.value


def _loaded(name: str) -> Iterator[str]:
    """`a.b.c` loads `a`, `a.b` and `a.b.c`: the ones that are our modules."""
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            yield candidate


def imports_of(module: str, path: Path, source: str | None = None) -> Iterator[Import]:
    text = path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text, filename=str(path))
    type_only_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for inner in node.body:
                for sub in ast.walk(inner):
                    if hasattr(sub, "lineno"):
                        type_only_lines.add(sub.lineno)
    seen: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        for target in _targets(module, path.name == "__init__.py", node):
            for imported in _loaded(target):
                key = (imported, node.lineno)  # type: ignore[attr-defined]
                if imported != module and key not in seen:
                    seen.add(key)
                    yield Import(module, imported, path, node.lineno, node.lineno in type_only_lines)  # type: ignore[attr-defined]


ALL_IMPORTS = [found for module, path in MODULES.items() for found in imports_of(module, path)]


def _broken(found: Import) -> bool:
    source, target = owner(found.importer), owner(found.imported)
    if source == target or target == "shared":
        return False
    if source == "shared":
        return True  # shared imports a function or hub
    return source in FUNCTION_NAMES  # a function imports another function or hub


def test_our_modules_are_found():
    assert {"shared", "hub", "leads_webhook", "reports_api"} <= set(MODULES)
    assert len(ALL_IMPORTS) > 100


def test_functions_and_shared_keep_to_their_layer():
    broken = [f for f in ALL_IMPORTS if _broken(f)]
    new = [f.where() for f in broken if (f.importer, f.imported) not in PENDING]
    assert not new, "imports across the layers:\n" + "\n".join(new)
    done = sorted(PENDING - {(f.importer, f.imported) for f in broken})
    assert not done, f"no longer needed: remove from PENDING: {done}"


_MODULE_PATH = re.compile(r"^\w+(\.\w+)*(:\w+)?$")


def names_a_function(text: str) -> bool:
    """`pos_ingest.profile` or `pos_ingest.profile:DistributorProfile` (what importlib would load): a dotted
    path or a `module:attribute` that is one of a function's modules. `alerts.yaml` is not."""
    if not _MODULE_PATH.match(text) or ("." not in text and ":" not in text):
        return False
    target = text.partition(":")[0]
    return target in MODULES and owner(target) in FUNCTION_NAMES


def test_shared_never_names_a_function_in_a_string():
    named = []
    for module, path in MODULES.items():
        if owner(module) != "shared":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and names_a_function(text):
                named.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not named, "shared names a function:\n" + "\n".join(named)


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _cycle_in(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """One concrete cycle through the component's first module, for the message."""
    members = set(component)
    start = component[0]
    path, seen = [start], {start}
    while True:
        step = sorted(edges[path[-1]] & members)
        nxt = next((m for m in step if m == start), None) or next((m for m in step if m not in seen), None)
        if nxt is None or nxt == start:
            return [*path, start]
        path.append(nxt)
        seen.add(nxt)


def test_no_import_circles():
    edges: dict[str, set[str]] = {module: set() for module in MODULES}
    lines: dict[tuple[str, str], str] = {}
    for found in ALL_IMPORTS:
        if not found.type_only:
            edges[found.importer].add(found.imported)
            lines.setdefault((found.importer, found.imported), found.where())
    circles = _circles(edges)
    described = []
    for component in circles:
        cycle = _cycle_in(component, edges)
        described.append(" -> ".join(cycle))
        described.extend(f"    {lines[(a, b)]}" for a, b in itertools.pairwise(cycle) if (a, b) in lines)
    assert not circles, "import circles:\n" + "\n".join(described)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("pos_ingest.profile:DistributorProfile", True),
        ("leads_webhook.routing", True),
        ("pos_ingest:handler", True),
        ("alerts.yaml", False),
        ("leads_webhook", False),
        ("shared.leads", False),
        ("pos_ingest.profile is where it was", False),
    ],
)
def test_a_string_names_a_function_when_it_is_one_of_its_module_paths(text, named):
    assert names_a_function(text) is named


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import a.b\n", [("a", False), ("a.b", False)]),
        ("def f():\n    from a import b\n", [("a", False), ("a.b", False)]),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\n",
            [("typing", False), ("a", True)],
        ),
        (
            "import importlib\nimportlib.import_module('a.b')\n",
            [("importlib", False), ("a", False), ("a.b", False)],
        ),
    ],
)
def test_the_checker_sees_imports_anywhere(source, expected, monkeypatch):
    path = ROOT / "shared" / "_probe.py"
    monkeypatch.setitem(MODULES, "a", path)
    monkeypatch.setitem(MODULES, "a.b", path)
    monkeypatch.setitem(MODULES, "typing", path)
    monkeypatch.setitem(MODULES, "importlib", path)
    found = [(f.imported, f.type_only) for f in imports_of("shared._probe", path, source)]
    assert found == expected
