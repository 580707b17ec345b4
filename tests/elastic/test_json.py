"""The JSON helper gives the same bytes with and without orjson."""

from __future__ import annotations

import importlib.util
import sys

import pytest

import flowlab.elastic._json as fast


def test_standard_library_fallback_matches(monkeypatch):
    monkeypatch.setitem(sys.modules, "orjson", None)  # as if orjson were not installed
    spec = importlib.util.find_spec("flowlab.elastic._json")
    assert spec is not None and spec.loader is not None
    slow = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(slow)
    assert slow.orjson is None
    value = {"pit": {"id": "x=="}, "sort": [1, "é", None, True], "n": 1.5}
    assert slow.dumps(value) == fast.dumps(value)
    assert slow.loads(fast.dumps(value)) == value
    with pytest.raises(slow.JSONDecodeError, match="Expecting"):
        slow.loads(b"{oops")
