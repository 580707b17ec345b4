"""The two decoder cores, for tests that check both: the compiled ``flowlab._native`` and pure numpy.

``tests/conftest.py``'s ``core`` fixture runs a test once per core; :func:`use_core` switches
for a block (a module-scoped fixture that decodes once per core). Without the extension the
native run is skipped, except in CI (``CI`` set), where it fails: CI machines have a C compiler,
so a missing extension is a broken build, unless ``FLOWLAB_NATIVE=0`` turned it off on purpose.
So does an extension built in place that is older than one of its sources (rebuild:
``pip install -e .``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import flowlab
from flowlab import _accel

CORES = ("native", "pure")
ROOT = Path(__file__).resolve().parents[1]


def turned_off() -> bool:
    """``FLOWLAB_NATIVE=0``: the compiled core was turned off on purpose."""
    return os.environ.get("FLOWLAB_NATIVE", "1").strip() == "0"


def missing_reason() -> str | None:
    """Why the compiled core cannot run here (None: it can), as a skip or failure message."""
    module = _accel.native()
    if module is None:
        if turned_off():
            return "the compiled core is turned off (FLOWLAB_NATIVE=0)"
        return (
            f"flowlab._native is not built in {Path(flowlab.__file__).parent} (build it with "
            "`pip install -e .` or `python setup.py build_ext --inplace`: docs/native.md)"
        )
    stale = stale_sources(module)
    if stale:
        return (
            f"{module.__file__} is older than {', '.join(stale)}: "
            "rebuild it with `pip install -e .` (docs/native.md)"
        )
    return None


def stale_sources(module: object) -> list[str]:
    """The ``native/`` sources newer than the extension built in place from them (in whole
    seconds: setuptools copies the build's time truncated); [] for an installed extension."""
    built = Path(str(getattr(module, "__file__", "")))
    if built.parent != ROOT / "flowlab":
        return []
    done = int(built.stat().st_mtime)
    sources = sorted((ROOT / "native").glob("*.[ch]"))
    return [str(p.relative_to(ROOT)) for p in sources if int(p.stat().st_mtime) > done]


def require_native() -> None:
    """Skip (locally) or fail (in CI, unless turned off on purpose) when the core cannot run."""
    reason = missing_reason()
    if reason is None:
        return
    if os.environ.get("CI") and not turned_off():
        pytest.fail(f"CI: {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def use_core(name: str) -> Iterator[None]:
    """Decode with core `name` ("native" or "pure") inside the block."""
    if name not in CORES:
        raise ValueError(f"core must be one of {CORES}, got {name!r}")
    if name == "native":
        require_native()
        yield
        return
    saved = _accel.native()
    _accel._module = None
    try:
        yield
    finally:
        _accel._module = saved
