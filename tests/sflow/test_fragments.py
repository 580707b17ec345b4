"""IP fragment reassembly: a real capture of Linux fragmenting sFlow datagrams (IPv4 and IPv6).

``tests/data/fragmented.pcap`` was made by ``tests/sflow/make_fragment_capture.py``. The file
``fragmented.expected.json`` next to it holds every datagram that was sent.
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal
from sflow_helpers import decode_many

from flowlab.capture._reassembly import Reassembler
from flowlab.capture.pcap import iter_pcap, read_pcap
from flowlab.capture.pcap_write import write_pcap
from flowlab.sflow.decode import Decoded

DATA = Path(__file__).resolve().parents[1] / "data"
CAPTURE = DATA / "fragmented.pcap"
SENT = json.loads((DATA / "fragmented.expected.json").read_text())["sent"]
SFLOW = [base64.b64decode(x["data"]) for x in SENT if x["sflow"]]


def packets(path: Path) -> list[tuple[tuple[int, int], bytes]]:
    """The capture's records: ((seconds, microseconds), frame)."""
    raw = path.read_bytes()
    pos, out = 24, []
    while pos + 16 <= len(raw):
        sec, usec, incl, _ = struct.unpack_from("<IIII", raw, pos)
        out.append(((sec, usec), raw[pos + 16 : pos + 16 + incl]))
        pos += 16 + incl
    return out


def is_fragment(frame: bytes) -> bool:
    et = struct.unpack_from("!H", frame, 12)[0]
    if et == 0x0800:
        return struct.unpack_from("!H", frame, 20)[0] & 0x3FFF != 0
    return et == 0x86DD and frame[20] == 44


def same_flows(got: Decoded, want: Decoded) -> None:
    cols = [c for c in got.flows.columns if c not in ("time", "source")]
    assert_frame_equal(got.flows.select(cols), want.flows.select(cols))


def test_the_capture_holds_real_fragments() -> None:
    frames = [f for _, f in packets(CAPTURE)]
    assert sum(is_fragment(f) for f in frames) >= 20
    assert max(len(d) for d in SFLOW) > 8000  # several fragments per datagram
    assert any(f[12:14] == b"\x86\xdd" and f[20] == 44 for f in frames)  # IPv6 fragment header


@pytest.mark.parametrize(
    "chunk_bytes", [8 << 20, 4096], ids=["one-chunk", "fragments-across-chunks"]
)
def test_fragmented_datagrams_are_reassembled_and_decoded(chunk_bytes: int) -> None:
    out = Decoded.concat(iter_pcap(CAPTURE, chunk_bytes=chunk_bytes))
    same_flows(out, decode_many(SFLOW))  # every sFlow datagram, in the order sent
    assert out.stats.datagrams == out.stats.datagrams_ok == len(SFLOW)
    assert out.stats.lost == 0
    skipped = out.stats.packets_skipped
    assert "fragment" not in skipped  # every fragment found its datagram
    other = next(x for x in SENT if not x["sflow"])
    udp = len(base64.b64decode(other["data"])) + 8  # its fragments: 1480 bytes of UDP each
    assert skipped["other_port"] == -(-udp // 1480)


def test_a_missing_fragment_loses_only_its_datagram_and_is_counted(tmp_path: Path) -> None:
    records = packets(CAPTURE)
    frames = [f for _, f in records]
    # drop the second fragment of the largest IPv4 datagram
    frag_ids = [struct.unpack_from("!H", f, 18)[0] for f in frames if f[12:14] == b"\x08\x00"]
    biggest = max(set(frag_ids), key=frag_ids.count)
    seen = 0
    kept = []
    for t, f in records:
        if f[12:14] == b"\x08\x00" and struct.unpack_from("!H", f, 18)[0] == biggest:
            seen += 1
            if seen == 2:
                continue
        kept.append((t, f))
    path = tmp_path / "one-fragment-lost.pcap"
    write_pcap(path, kept)
    out = read_pcap(path)
    assert out.stats.datagrams_ok == len(SFLOW) - 1
    assert out.stats.packets_skipped["fragment"] == seen - 1
    longest = max(SFLOW, key=len)
    same_flows(out, decode_many([d for d in SFLOW if d is not longest]))


def test_reassembler_orders_overlaps_and_duplicates() -> None:
    r = Reassembler()
    key = (4, b"a" * 4, b"b" * 4, 1, 17)
    assert r.add(key, 16, b"CCCCCCCC", more=False) is None
    assert r.add(key, 0, b"AAAAAAAA", more=True) is None
    assert r.add(key, 0, b"AAAAAAAA", more=True) is None  # a duplicate
    assert r.pending_fragments == 3
    whole = r.add(key, 4, b"xxxxBBBBBBBB", more=True)  # overlaps the first
    assert whole == (b"AAAAAAAABBBBBBBBCCCCCCCC", 4)
    assert r.pending_fragments == 0


def test_reassembler_memory_is_bounded_and_evictions_counted() -> None:
    r = Reassembler(max_bytes=1000)
    for ident in range(10):
        assert r.add((4, b"a" * 4, b"b" * 4, ident, 17), 0, bytes(300), more=True) is None
    assert r.pending_fragments <= 3
    assert r.dropped + r.pending_fragments == 10
