"""The library's import structure: one way down, no circles.

Every ``import`` of ``styleinv_lib`` (at module level or inside a function: a deferred import is still a dependency)
must point to a lower layer, so data flows data/nn → metrics → train → generate → experiments → cli and a
change low in the stack never needs code above it.  A new module must be placed in :data:`LAYERS` (the test names it).
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import styleinv_lib

PACKAGE = Path(styleinv_lib.__file__).resolve().parent

#: Top-level modules and sub-packages of styleinv_lib, lowest layer first.  A name may import only names of a
#: strictly lower layer (imports inside a sub-package are checked by the cycle test below).
LAYERS = [
    {"_version", "fileio", "pixels", "profiles", "cli_common", "seed_statistics"},
    {"nn", "data", "checkpoint", "viz"},
    {"cost", "loading", "metrics"},
    {"inversion"},
    {"train"},
    {"generate"},
    {"experiments", "cli_style", "cli_video"},
    {"cli"},
]
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_edges() -> dict[str, set[str]]:
    """``{module: {styleinv_lib modules it imports}}``, relative imports resolved, function-level ones included."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                    names = [f"{target}.{a.name}" for a in node.names]
                else:
                    target, names = node.module or "", []
                # `from . import x` imports the submodule x; otherwise the module itself
                found = [n for n in names if (PACKAGE.parent / (n.replace(".", "/") + ".py")).is_file()]
                for t in found or [target]:
                    if t.startswith("styleinv_lib"):
                        edges[module].add(t)
            elif isinstance(node, ast.Import):
                edges[module].update(a.name for a in node.names if a.name.startswith("styleinv_lib"))
    return edges


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_top_level_name_has_a_layer():
    names = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    names |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert not names - set(LAYER_OF), f"place these in LAYERS of {__file__}: {sorted(names - set(LAYER_OF))}"


def test_imports_point_down():
    upward = []
    for source, targets in import_edges().items():
        a = _top(source)
        if not a:                                  # styleinv_lib/__init__.py: the package's face re-exports
            continue
        for target in targets:
            b = _top(target)
            if b and b != a and LAYER_OF[b] >= LAYER_OF[a]:
                upward.append(f"{source} -> {target} (layer {LAYER_OF[a]} -> {LAYER_OF[b]})")
    assert not upward, "imports that do not point down:\n" + "\n".join(sorted(upward))


def test_no_module_imports_itself_through_a_circle():
    edges = {m: {t for t in ts if t != m} for m, ts in import_edges().items()}
    # a package __init__ that re-exports its submodules is part of every import of the package: not a circle
    for m in list(edges):
        edges[m] = {t for t in edges[m] if not m.startswith(t + ".")}
    state: dict[str, int] = {}
    circles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                circles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not circles, "import circles:\n" + "\n".join(circles)


@pytest.mark.parametrize("module, forbidden", [
    ("styleinv_lib.metrics.protocol", "styleinv_lib.generate"),
    ("styleinv_lib.metrics.probe", "styleinv_lib.train"),
    ("styleinv_lib.loading", "styleinv_lib.train"),
])
def test_named_dependencies_that_must_never_come_back(module, forbidden):
    """The evaluation protocol takes clip sources and never loads generators; the probe's evaluation half does not
    reach into training; loading reads snapshots from below train/."""
    reached, todo = set(), [module]
    edges = import_edges()
    while todo:
        m = todo.pop()
        for t in edges.get(m, ()):
            if t not in reached:
                reached.add(t)
                todo.append(t)
    assert not any(t == forbidden or t.startswith(forbidden + ".") for t in reached), \
        f"{module} reaches {forbidden}: {sorted(t for t in reached if t.startswith(forbidden))}"
