"""Every package's ``__all__`` is sorted, complete and documented (in the manner of httpx's test).

- sorted: isort-style, as ruff's RUF022 wants (CONSTANTS, then Classes, then functions);
- complete: every public name the package defines or imports, except modules, is listed;
- documented: every listed class or function has its own docstring; every listed constant a
  ``#:`` comment where it is assigned, or a mention in its package's docstring.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types
from pathlib import Path

import pytest

PACKAGES = [
    "flowlab",
    "flowlab.analysis",
    "flowlab.capture",
    "flowlab.collect",
    "flowlab.decoding",
    "flowlab.demo",
    "flowlab.elastic",
    "flowlab.graph",
    "flowlab.k8s",
    "flowlab.sflow",
    "flowlab.views",
    "flowlab.vocabulary",
]
#: names a package may hold without exporting them
_PLUMBING = {"annotations", "TYPE_CHECKING"}
#: names documented by convention
_CONVENTIONAL = {"__version__"}


_ROOT = Path(importlib.import_module("flowlab").__file__ or "").parent


def _isort_key(name: str) -> tuple[int, str]:
    if name.isupper() or (name.upper() == name and "_" in name):
        return (0, name)
    return (1 if name[:1].isupper() else 2, name)


def _module(name: str) -> types.ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted(package: str) -> None:
    mod = _module(package)
    # the top-level package appends its lazily imported subpackages
    names = [n for n in mod.__all__ if not isinstance(getattr(mod, n), types.ModuleType)]
    assert names == sorted(names, key=_isort_key), f"{package}.__all__ is not sorted"
    assert len(set(names)) == len(names), f"{package}.__all__ repeats a name"


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_complete(package: str) -> None:
    mod = _module(package)
    public = {
        name
        for name, value in vars(mod).items()
        if not name.startswith("_")
        and name not in _PLUMBING
        and not isinstance(value, types.ModuleType)
    }
    missing = sorted(public - set(mod.__all__))
    assert not missing, f"{package} has public names not in __all__: {missing}"
    absent = sorted(n for n in mod.__all__ if not hasattr(mod, n))
    assert not absent, f"{package}.__all__ lists names it does not have: {absent}"


def _own_doc(name: str, value: object) -> bool:
    doc = value.__doc__ if isinstance(value, type) else inspect.getdoc(value)
    if not doc or not doc.strip():
        return False
    return not (isinstance(value, type) and doc.startswith(f"{name}("))  # a dataclass's default


def _commented(package: types.ModuleType, name: str) -> bool:
    """`name` is in the package docstring, or assigned after a ``#:`` comment (where it is defined)."""
    if name in (package.__doc__ or ""):
        return True
    pattern = re.compile(rf"^{re.escape(name)}\b[^=\n]*=", re.MULTILINE)
    for path in _ROOT.rglob("*.py"):
        text = path.read_text()
        for m in pattern.finditer(text):
            before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            if before.startswith("#:"):
                return True
    return False


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_documented(package: str) -> None:
    mod = _module(package)
    undocumented = []
    for name in mod.__all__:
        value = getattr(mod, name)
        if name in _CONVENTIONAL or isinstance(value, types.ModuleType):
            ok = bool(getattr(value, "__doc__", None)) or name in _CONVENTIONAL
        elif inspect.isclass(value) or inspect.isroutine(value):
            ok = _own_doc(name, value)
        else:
            ok = _commented(mod, name)
        if not ok:
            undocumented.append(name)
    assert not undocumented, f"{package} exports undocumented names: {undocumented}"
