"""flowlab._series: NumPy columns as Polars Series with their nulls, by either core."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_series_equal

from flowlab._series import series, texts
from tests.cores import require_native

DTYPES = [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64]
DTYPES += [np.uint64, np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [0, 1, 7, 8, 9, 1000])
def test_values_and_nulls_as_polars_makes_them(core: str, dtype: type, rows: int) -> None:
    rng = np.random.default_rng(rows)
    values: np.ndarray = rng.integers(0, 100, rows).astype(dtype)
    valid = rng.random(rows) > 0.3
    want = pl.Series("x", values)
    want = want.set(pl.Series(~valid), None) if rows else want
    got = series(values, valid, name="x")
    assert_series_equal(got, want)
    assert_series_equal(series(values, None, name="x"), pl.Series("x", values))


def test_epoch_milliseconds_become_utc_datetimes(core: str) -> None:
    ms = np.array([0, 1_700_000_000_123, -5], dtype=np.int64)
    got = series(ms, np.array([True, True, False]), name="time", time_ms=True)
    assert got.dtype == pl.Datetime("ms", "UTC")
    assert got.dt.epoch("ms").to_list() == [0, 1_700_000_000_123, None]


def test_views_and_strided_arrays_are_taken_as_their_values(core: str) -> None:
    base = np.arange(20, dtype=np.uint32).reshape(5, 4)
    assert series(base[:, 1]).to_list() == [1, 5, 9, 13, 17]
    assert series(base[1:3, 0]).to_list() == [4, 8]


@pytest.mark.parametrize(
    ("capture", "protocol"),
    [("ovs-default", "sflow"), ("ovs-ipfix-ovnk", "ipfix"), ("ovs-netflow", "netflow")],
)
def test_the_compiled_read_paths_do_not_import_numpy_ma(capture: str, protocol: str) -> None:
    # Polars imports numpy.ma (15 ms) on its first numpy conversion, numpy on a first np.unique:
    # a first read_pcap with the compiled core makes neither
    require_native()
    path = Path(__file__).resolve().parents[1] / "data" / f"{capture}.pcap"
    code = (
        "import sys; from flowlab.capture.pcap import read_pcap; "
        f"out = read_pcap({str(path)!r}, protocol={protocol!r}); "
        "assert out.flows.height > 0; print('numpy.ma' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


def test_the_core_writes_the_canonical_texts_of_addresses() -> None:
    """IPv4 addresses as dotted quads, IPv6 ones as ipaddress writes them (on this Python) and MACs
    in lower-case colon form, at the edges and at random: what the Python formatting gives
    without the core."""
    require_native()
    import ipaddress

    rng = np.random.default_rng(5)
    v4 = np.concatenate([[0, 1, 255, 256, 0x0A000001, 0x64640A0A, 0xFFFFFFFF],
                         rng.integers(0, 2**32, 5000)]).astype(np.uint32)  # fmt: skip
    assert texts(v4, "ipv4").to_list() == [str(ipaddress.IPv4Address(int(a))) for a in v4]
    mac = np.concatenate([[0, 0x0A1B2C3D4E5F, 0xFFFFFFFFFFFF],
                          rng.integers(0, 2**48, 5000)]).astype(np.uint64)  # fmt: skip
    want = [":".join(f"{int(m):012x}"[i : i + 2] for i in range(0, 12, 2)) for m in mac]
    assert texts(mac, "mac").to_list() == want
    # IPv6: zero runs of every length and place (the first longest one is "::"), and random ones
    hextets = rng.choice([0, 0, 0, 1, 0xFFFF, 0xABC], size=(20_000, 8))
    ints = [int("".join(f"{h:04x}" for h in row), 16) for row in hextets.tolist()]
    ints += [0, 1, 2**128 - 1, 0xFFFF_0102_0304, 0x64FF9B << 96 | 0x08080808]
    ints += [int(x) for x in rng.integers(0, 2**63, 2000)] + [(1 << 127) | 5 << 64]
    words = np.array([[(v >> s) & 0xFFFFFFFF for s in (96, 64, 32, 0)] for v in ints], np.uint32)
    from flowlab.decoding.addresses import _ipv6_kind

    got = texts(words, _ipv6_kind())
    assert got is not None and got.to_list() == [str(ipaddress.IPv6Address(v)) for v in ints]
    mapped = np.array([[0, 0, 0xFFFF, 0x01020304]], dtype=np.uint32)
    assert texts(mapped, "ipv6").to_list() == ["::ffff:102:304"]  # either Python's form
    assert texts(mapped, "ipv6, mapped dotted").to_list() == ["::ffff:1.2.3.4"]
    valid = rng.random(mac.size) < 0.5
    masked = texts(mac, "mac", valid)
    assert masked is not None and masked.to_list() == [
        w if v else None for w, v in zip(want, valid)
    ]
    empty = texts(np.zeros(0, dtype=np.uint32), "ipv4")
    assert empty is not None and empty.dtype == pl.String and empty.len() == 0
