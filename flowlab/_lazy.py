"""Names a package imports on first use: the one ``__getattr__``/``__dir__`` pair for lazy exports.

In the manner of Scientific Python's SPEC 1 (``lazy_loader.attach``): a
package says, per module, which names it exports without importing them; the
first lookup of a name imports its module and keeps the value in the
package, so the next lookup is an ordinary attribute.

Examples
--------
>>> import types
>>> pkg = types.ModuleType("pkg")
>>> pkg.__getattr__, pkg.__dir__ = attach(vars(pkg), {"json": ("dumps",)})
>>> pkg.dumps([1]), "dumps" in vars(pkg), "dumps" in dir(pkg)
('[1]', True, True)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

__all__ = ["attach"]


def attach(
    namespace: MutableMapping[str, Any],
    names: Mapping[str, Sequence[str]],
    *,
    submodules: Sequence[str] = (),
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose `names` load on first use.

    Parameters
    ----------
    namespace : mutable mapping
        The package's ``globals()``; a name, once loaded, is kept there.
    names : mapping
        ``{module: names}``: the names imported from each module on first use.
    submodules : sequence of str
        The package's submodules imported on first use (``flowlab.elastic``).
    """
    package = namespace["__name__"]
    module_of = {name: module for module, attrs in names.items() for name in attrs}

    def __getattr__(name: str) -> object:
        if name in module_of:
            value = getattr(importlib.import_module(module_of[name]), name)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            msg = f"module {package!r} has no attribute {name!r}"
            raise AttributeError(msg)
        namespace[name] = value  # the next lookup does not come here
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(module_of) | set(submodules))

    return __getattr__, __dir__
