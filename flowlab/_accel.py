"""Which decoder core runs: the optional compiled one (``flowlab._native``) or pure numpy.

The compiled core is built by ``pip install`` where a C compiler is found and ships in
flowlab's wheels; it gives the same results as the pure path, which stays the fallback.
``FLOWLAB_NATIVE=0`` in the environment turns it off (read once, on first use).

>>> from flowlab import _accel
>>> _accel.native() is None or hasattr(_accel.native(), "__name__")
True
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

__all__ = ["native"]

_UNSET = object()
_module: object = _UNSET


def native() -> ModuleType | None:
    """The compiled core module, or None (not built here, or turned off by ``FLOWLAB_NATIVE=0``)."""
    global _module
    if _module is _UNSET:
        _module = _load()
    return _module  # type: ignore[return-value]


def _load() -> ModuleType | None:
    if os.environ.get("FLOWLAB_NATIVE", "1").strip() == "0":
        return None
    try:
        # import_module, not `from flowlab import _native`: mypy would type that as the
        # package's lazy __getattr__ result (object)
        module = importlib.import_module("flowlab._native")
    except ImportError:
        return None
    # only the extension built with this flowlab: an editable install of another checkout
    # answers for flowlab's submodules too, with an extension built from other sources
    if Path(str(module.__file__)).parent != Path(__file__).parent:
        return None
    return module
