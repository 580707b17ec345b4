"""Record classes with a dataclass's repr, equality and (frozen) hashing, built without code generation.

:func:`dataclasses.dataclass` compiles each class's methods from source when its module is
imported: 0.4-0.8 ms a class here. The NetFlow/IPFIX decoder's six public records cost 3.9 ms
of every process's first read of a capture that way. A class based on :class:`Record` or
:class:`Frozen` names its fields in ``_fields`` (in order), holds them in ``__slots__`` and
writes its own ``__init__`` (a frozen one taking its fields in that order: pickle and copy
rebuild it through it).

Examples
--------
>>> class Point(Frozen):
...     __slots__ = ("x", "y")
...     _fields = ("x", "y")
...
...     def __init__(self, x: int, y: int = 0) -> None:
...         set_fields(self, x=x, y=y)
>>> p = Point(1)
>>> p, p == Point(1, 0), hash(p) == hash(Point(1))
(Point(x=1, y=0), True, True)
>>> p.x = 2
Traceback (most recent call last):
...
dataclasses.FrozenInstanceError: cannot assign to field 'x'
>>> import copy
>>> copy.deepcopy(p) == p
True
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from typing import Any, ClassVar

__all__ = ["Frozen", "Record", "set_fields"]


class _Fields:
    """``_fields`` in the repr and equality."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, k) for k in self._fields)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._fields)
        return f"{type(self).__qualname__}({shown})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()


class Record(_Fields):
    """A mutable record (unhashable, as a dataclass)."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]


class Frozen(_Fields):
    """An immutable, hashable record (fields set once, with :func:`set_fields`)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __hash__(self) -> int:
        return hash(self._values())

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        # rebuilt by its __init__ (fields in order), as pickle and copy cannot set frozen slots
        return type(self), self._values()


def set_fields(record: Frozen | Record, **values: Any) -> None:
    """Set fields of a (frozen) record, in its ``__init__``."""
    for k, v in values.items():
        object.__setattr__(record, k, v)
