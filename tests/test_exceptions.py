"""The exception tree says what the code does: where SFlowError sits, no unused warnings."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import flowlab
from flowlab import exceptions
from flowlab.exceptions import DecodeError, SFlowError, UsageError
from flowlab.sflow import Datagram, FlowSample, decode, encode_datagram, raw_header


def test_sflow_error_is_a_usage_error_not_a_decode_error() -> None:
    assert issubclass(SFlowError, UsageError)
    assert issubclass(SFlowError, ValueError)
    assert not issubclass(SFlowError, DecodeError)
    with pytest.raises(UsageError, match="MAC address"):
        raw_header("10.0.0.1", "10.0.0.2", 6, 1, 2, src_mac="not a mac")


def test_bad_bytes_are_counted_not_raised() -> None:
    rec = raw_header("10.0.0.1", "10.0.0.2", 6, 1, 2)
    wire = encode_datagram(Datagram("10.0.0.9", 1, 1, [FlowSample(1, 1, 1, 1, [rec])]))
    bad = b"\x00\x00\x00\x07" + wire[4:]  # wrong version
    out = decode(
        bad + wire[: len(wire) // 2], [0, len(bad)], [len(bad), len(wire) // 2], received_ms=0
    )
    assert out.stats.datagrams == 2
    assert out.stats.bad == 2


def test_every_leaf_exception_is_used_outside_its_definition() -> None:
    root = Path(flowlab.__file__).parent
    used: set[str] = set()
    for path in root.rglob("*.py"):
        if path.parent == root and path.name in {"exceptions.py", "__init__.py"}:
            continue
        used |= {n.id for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Name)}
    # a base class is used by its subclasses; a leaf must be raised or warned somewhere
    bases = {b.__name__ for name in exceptions.__all__ for b in getattr(exceptions, name).__bases__}
    unused = [n for n in exceptions.__all__ if n not in bases and n not in used]
    assert not unused, f"exceptions defined but never raised or warned: {unused}"


def test_the_top_level_exports_every_exception() -> None:
    import flowlab
    import flowlab.exceptions

    assert set(flowlab.exceptions.__all__) <= set(flowlab.__all__)
    for name in flowlab.exceptions.__all__:
        assert getattr(flowlab, name) is getattr(flowlab.exceptions, name)
