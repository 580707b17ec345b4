"""Shared helpers for the NetFlow / IPFIX tests: datagrams of a capture, packing, tshark."""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from flowlab.decoding import Decoded
from flowlab.netflow import decode
from flowlab.netflow.templates import NetFlowState

DATA = Path(__file__).resolve().parents[1] / "data"
T0 = 1_700_000_000_000
#: the 5-tuple key of the truth files
KEY = ["src_ip", "dst_ip", "protocol", "src_port", "dst_port"]


def udp_payloads(path: Path) -> list[tuple[bytes, str, int]]:
    """(payload, source address, receive ms) of every UDP/IPv4 datagram of a classic Ethernet pcap.

    Independent of flowlab.capture on purpose: the tests feed the decoder directly.
    """
    raw = path.read_bytes()
    assert raw[:4] == b"\xd4\xc3\xb2\xa1" and struct.unpack_from("<I", raw, 20)[0] == 1
    out = []
    p = 24
    while p + 16 <= len(raw):
        sec, usec, incl, _ = struct.unpack_from("<IIII", raw, p)
        frame = raw[p + 16 : p + 16 + incl]
        p += 16 + incl
        if struct.unpack_from("!H", frame, 12)[0] != 0x0800:
            continue
        ip = frame[14:]
        ihl = (ip[0] & 15) * 4
        if ip[9] != 17:
            continue
        src = ".".join(str(b) for b in ip[12:16])
        (ulen,) = struct.unpack_from("!H", ip, ihl + 4)
        out.append((ip[ihl + 8 : ihl + ulen], src, sec * 1000 + usec // 1000))
    return out


def pack(datagrams: Sequence[bytes]) -> tuple[bytes, list[int], list[int]]:
    """Datagrams back to back in one buffer, with their offsets and lengths."""
    offsets = np.cumsum([0, *(len(d) for d in datagrams)])[:-1].tolist()
    return b"".join(datagrams), offsets, [len(d) for d in datagrams]


def decode_many(
    datagrams: Sequence[bytes],
    *,
    peers: Sequence[str | None] | None = None,
    state: NetFlowState | None = None,
    received_ms: Sequence[int] | None = None,
) -> Decoded:
    buf, off, ln = pack(datagrams)
    recv = np.arange(len(datagrams), dtype=np.int64) + T0 if received_ms is None else received_ms
    return decode(buf, off, ln, received_ms=recv, peers=peers, state=state)


def truth(name: str) -> pl.DataFrame:
    """The per-5-tuple truth of a capture (the pods' own tcpdump), typed like the canonical frame."""
    flows = json.loads((DATA / f"{name}.expected.json").read_text())["flows"]
    return pl.DataFrame(flows).with_columns(
        pl.col("protocol").cast(pl.UInt8),
        pl.col("src_port").cast(pl.UInt16),
        pl.col("dst_port").cast(pl.UInt16),
    )


def expected(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.expected.json").read_text())


def tshark_fields(path: Path, fields: list[str], *, port: int) -> list[dict[str, list[str]]]:
    """The real tshark's cflow dissection of `path`: one dict per packet, every occurrence of each field."""
    from tests.tshark import tshark_fields as fields_of

    # OVS's templates hold more than 60 fields: tshark's default limit is lower
    opts = ("-o", "cflow.max_template_fields:1000")
    return fields_of(path, fields, port=port, dissector="cflow", options=opts)
