"""The layers of docs/architecture.md, kept by reading every ``import`` in flowlab (``ast``).

A unit is a subpackage (``flowlab/sflow/``) or a top-level module (``flowlab/store.py``).
Imports inside functions and under ``TYPE_CHECKING`` count too: a lazy import is still a
dependency. Protocol decoders are found by name at run time (``flowlab.decoding``), so
capture and collection never import a protocol package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import flowlab

ROOT = Path(flowlab.__file__).parent

#: the foundation: imports no other flowlab unit but these (tables: formatting for people;
#: _atomic: the one atomic file writer, on main since faults-collect; estimate: the
#: intervals of sampled volumes, which vocabulary.aggregate adds with intervals=True; _time: time
#: windows, absolute and relative, which vocabulary's filters and dataset's load both parse; _lazy:
#: the one __getattr__ of packages that import names on first use; _arrays: the NumPy array types;
#: _accel: whether the compiled core flowlab._native runs, and _native the core itself; _series:
#: NumPy columns as Polars Series, through the core's Arrow export when it runs; _plain: record
#: classes with a dataclass's repr and equality, built without a dataclass's import-time cost;
#: _pool: the decoders' output arrays, reused from batch to batch)
FOUNDATION = {
    "_accel",
    "_series",
    "_arrays",
    "_atomic",
    "_lazy",
    "_plain",
    "_pool",
    "_time",
    "estimate",
    "exceptions",
    "schema",
    "services",
    "tables",
}
#: known upward imports, each with its reason; the list should shrink, never grow
TOLERATED: dict[tuple[str, str], str] = {
    ("schema", "k8s"): "schema.markdown() lazily documents the enrichment columns (docs/schema.md)",
}
#: unit -> the flowlab units it may import (besides the foundation); docs/architecture.md draws this
ALLOWED: dict[str, set[str]] = {
    "_accel": {"_native"},  # the compiled core (an extension module, native/*.c)
    "_series": set(),
    "_arrays": set(),
    "_atomic": set(),
    "_lazy": set(),
    "_plain": set(),
    "_pool": set(),
    "estimate": set(),
    "_time": set(),
    "exceptions": set(),
    "schema": set(),
    "services": set(),
    "vocabulary": set(),
    "decoding": set(),
    "store": set(),
    "tables": set(),
    "capture": {"decoding"},
    "collect": {"decoding", "store"},
    "sflow": {"decoding", "capture"},
    "netflow": {"decoding", "capture"},
    "convert": {"capture", "decoding", "store"},
    "k8s": {"vocabulary"},
    "elastic": {"vocabulary"},
    "demo": {"sflow", "netflow", "decoding", "capture", "collect", "store"},
    "dataset": {"capture", "decoding", "store", "demo", "elastic", "k8s", "vocabulary"},
    "analysis": {"vocabulary", "k8s"},
    "graph": {"vocabulary", "k8s"},
    "policy": {"k8s", "dataset"},  # dataset: `flowlab policy` loads its source
    "views": {
        "vocabulary",
        "graph",
        "tables",
        "analysis",
        "dataset",
    },  # explore(ds) takes a Dataset
    "report": {"vocabulary", "dataset", "k8s", "analysis", "graph", "views", "tables", "policy"},
    "cli": {
        "capture",
        "collect",
        "convert",
        "dataset",
        "demo",
        "elastic",
        "k8s",
        "policy",
        "report",
        "store",
    },
}
HIGH = {
    "analysis",
    "graph",
    "policy",
    "views",
    "elastic",
    "report",
    "k8s",
    "demo",
    "dataset",
    "cli",
}


def _unit(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _is_main_block(node: ast.AST) -> bool:
    """``if __name__ == "__main__":``: runs only when the file is the program, never on import."""
    test = node.test if isinstance(node, ast.If) else None
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


def _imports(path: Path) -> set[str]:
    """The flowlab units `path` imports (``from flowlab import x`` names unit x).

    Not those of an ``if __name__ == "__main__":`` block: ``python -m flowlab.report`` runs
    the cli as a program; ``flowlab.report`` imported never imports it.
    """
    out: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    tree.body = [n for n in tree.body if not _is_main_block(n)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "flowlab":
                names = [f"flowlab.{a.name}" for a in node.names]
        else:
            continue
        out |= {n.split(".")[1] for n in names if n.startswith("flowlab.")}
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        unit = _unit(path)
        if unit == "__init__":
            continue  # the top-level package re-exports from everywhere (but cli)
        graph.setdefault(unit, set()).update(_imports(path) - {unit, "__version__"})
    return graph


GRAPH = _graph()


def test_every_unit_has_its_place() -> None:
    assert set(GRAPH) <= set(ALLOWED), (
        f"new flowlab units {sorted(set(GRAPH) - set(ALLOWED))}: give them a layer in "
        "tests/test_layers.py and docs/architecture.md"
    )


@pytest.mark.parametrize("unit", sorted(ALLOWED))
def test_imports_point_down(unit: str) -> None:
    extra = GRAPH.get(unit, set()) - ALLOWED[unit] - FOUNDATION
    extra -= {dep for (u, dep) in TOLERATED if u == unit}
    assert not extra, f"flowlab.{unit} imports {sorted(extra)}, above or beside its layer"


def test_the_foundation_imports_only_the_foundation() -> None:
    for unit in (
        "estimate",
        "exceptions",
        "schema",
        "services",
        "tables",
        "_time",
        "vocabulary",
        "decoding",
    ):
        tolerated = {dep for (u, dep) in TOLERATED if u == unit}
        assert GRAPH[unit] - tolerated <= FOUNDATION, (unit, GRAPH[unit])
    assert GRAPH["exceptions"] == set()
    assert GRAPH["estimate"] == set()  # numpy and Polars only


def test_capture_collection_and_protocols_stay_low() -> None:
    for unit in ("capture", "collect", "decoding", "sflow", "convert", "store"):
        assert not GRAPH[unit] & HIGH, (unit, GRAPH[unit] & HIGH)
    for unit in ("capture", "collect", "decoding", "convert"):
        assert "sflow" not in GRAPH[unit], f"{unit} must reach protocols through flowlab.decoding"


def test_nothing_imports_the_cli() -> None:
    importers = sorted(u for u, deps in GRAPH.items() if "cli" in deps)
    top = _imports(ROOT / "__init__.py")
    assert not importers and "cli" not in top, importers


def test_the_checker_sees_imports() -> None:
    # the rules above are only as good as _imports: it must find all three import forms
    found = _imports(ROOT / "graph" / "build.py")
    assert {"exceptions", "vocabulary", "k8s"} <= found  # k8s: inside a function and TYPE_CHECKING
    assert {"schema", "services"} <= _imports(ROOT / "sflow" / "decode.py")  # "from flowlab import"
