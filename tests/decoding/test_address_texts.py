"""flowlab.decoding.addresses: the texts of a frame's addresses, by codes or written row by row."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest
from polars.testing import assert_series_equal

from flowlab.decoding import addresses
from flowlab.decoding.addresses import Endpoints


def _rows(n: int, distinct: int, seed: int) -> tuple[np.ndarray, ...]:
    """2n entries (sources, then destinations): IPv4, IPv6 (zero runs, IPv4-mapped) or null."""
    rng = np.random.default_rng(seed)
    kind = rng.choice([4, 4, 6, 0], 2 * n)
    v4 = rng.integers(0, 2**32, distinct, dtype=np.uint32)[rng.integers(0, distinct, 2 * n)]
    hextets = rng.choice([0, 0, 1, 0xFFFF, 0xABCD], size=(distinct, 8)).astype(np.uint32)
    hextets[:4] = [0, 0, 0, 0, 0, 0xFFFF, 0x0102, 0x0304]  # IPv4-mapped ones
    words = (hextets[:, 0::2] << 16) | hextets[:, 1::2]
    v6 = words[rng.integers(0, distinct, 2 * n)]
    return v4, kind == 4, v6, kind == 6


def _text(v4: np.ndarray, ok4: np.ndarray, v6: np.ndarray, ok6: np.ndarray, i: int) -> str | None:
    if ok4[i]:
        return str(ipaddress.IPv4Address(int(v4[i])))
    if ok6[i]:
        return str(ipaddress.IPv6Address(int("".join(f"{int(w):08x}" for w in v6[i]), 16)))
    return None


@pytest.mark.parametrize("distinct", [3, 5000])
def test_codes_and_rows_written_one_by_one_give_the_same_texts(
    core: str, distinct: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 4000
    v4, ok4, v6, ok6 = _rows(n, distinct, distinct)
    rng = np.random.default_rng(1)
    from_src, valid = rng.random(n) < 0.5, rng.random(n) < 0.8
    want = [_text(v4, ok4, v6, ok6, i) for i in range(2 * n)]
    got = {}
    for forced in (False, True):
        monkeypatch.setattr(addresses, "_mostly_distinct", lambda *a, forced=forced: forced)
        ends = Endpoints(v4, ok4, v6, ok6)
        assert ends.src.to_list() == want[:n] and ends.dst.to_list() == want[n:]
        picked = ends.pick(from_src, valid)
        assert picked.to_list() == [
            (want[i] if from_src[i] else want[n + i]) if valid[i] else None for i in range(n)
        ]
        got[forced] = picked
    assert_series_equal(got[False], got[True])


def test_a_flood_of_spoofed_addresses_is_written_row_by_row_and_a_real_batch_by_codes() -> None:
    def distinct(v4: np.ndarray, ok4: np.ndarray, v6: np.ndarray, ok6: np.ndarray) -> bool:
        return addresses._mostly_distinct(ok4 | ok6, addresses._ip_keys(v4, ok4, v6))

    assert distinct(*_rows(5000, 1_000_000, 3))
    assert not distinct(*_rows(5000, 12, 4))
    assert not distinct(*_rows(20, 1_000_000, 5))  # a few rows: codes


def test_macs_by_codes_and_written_one_by_one_alike(
    core: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(7)
    mac = rng.integers(0, 2**48, 6000, dtype=np.uint64)
    ok = rng.random(6000) < 0.9
    want = [":".join(f"{int(m):012x}"[i : i + 2] for i in range(0, 12, 2)) if k else None
            for m, k in zip(mac, ok)]  # fmt: skip
    assert addresses._mostly_distinct(ok, lambda p: mac[p].copy())
    for forced in (False, True):
        monkeypatch.setattr(addresses, "_mostly_distinct", lambda *a, forced=forced: forced)
        ends = Endpoints.of_macs(mac, ok)
        assert ends.src.to_list() == want[:3000] and ends.dst.to_list() == want[3000:]
