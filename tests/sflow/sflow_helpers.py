"""Shared helpers for the sFlow tests: pack datagrams into one buffer, compare rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from flowlab.decoding.sequence import SequenceTracker
from flowlab.sflow.decode import Decoded, decode

T0 = 1_700_000_000_000


def pack(
    datagrams: Sequence[bytes], gaps: Sequence[int] | None = None
) -> tuple[bytes, list[int], list[int]]:
    """Lay datagrams out back to back (with optional filler bytes before each) in one buffer."""
    parts: list[bytes] = []
    offsets: list[int] = []
    pos = 0
    for i, d in enumerate(datagrams):
        gap = gaps[i] if gaps is not None else 0
        parts.append(b"\xa5" * gap)
        pos += gap
        offsets.append(pos)
        parts.append(d)
        pos += len(d)
    return b"".join(parts), offsets, [len(d) for d in datagrams]


def decode_many(
    datagrams: Sequence[bytes],
    *,
    gaps: Sequence[int] | None = None,
    state: SequenceTracker | None = None,
    peers: Sequence[str | None] | None = None,
) -> Decoded:
    buf, off, ln = pack(datagrams, gaps)
    recv = np.arange(len(datagrams), dtype=np.int64) + T0
    return decode(buf, off, ln, received_ms=recv, peers=peers, state=state)


def assert_rows(frame: pl.DataFrame, expected: list[dict[str, Any]]) -> None:
    """Every key of every expected row equals the frame's value (rows in order)."""
    assert frame.height == len(expected), (frame.height, len(expected))
    rows = frame.to_dicts()
    for i, (got, want) in enumerate(zip(rows, expected)):
        for key, value in want.items():
            assert got[key] == value, f"row {i} column {key}: got {got[key]!r}, expected {value!r}"


def tshark_fields(path: str, fields: list[str], *, port: int = 6343) -> list[dict[str, list[str]]]:
    """Run the real tshark on `path`; one dict per packet, every occurrence of each field."""
    from tests.tshark import tshark_fields as fields_of

    return fields_of(path, fields, port=port, dissector="sflow", timeout=120)
