"""JSON for the elastic package: orjson when installed (faster), else the standard library.

Both produce compact UTF-8 bytes, so request bodies and cursors are the same either way.

Examples
--------
>>> dumps({"a": [1, "é"]})
b'{"a":[1,"\\xc3\\xa9"]}'
>>> loads(b'{"a":1}')
{'a': 1}
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["JSONDecodeError", "dumps", "loads"]

JSONDecodeError = json.JSONDecodeError  # orjson's error subclasses it

try:
    import orjson
except ImportError:  # pragma: no cover - exercised by test_json with orjson hidden
    orjson = None  # type: ignore[assignment]


def dumps(value: Any) -> bytes:
    """Compact JSON bytes."""
    if orjson is not None:
        return orjson.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def loads(data: bytes | str) -> Any:
    """Parse JSON."""
    if orjson is not None:
        return orjson.loads(data)
    return json.loads(data)
