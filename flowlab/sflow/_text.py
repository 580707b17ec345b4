"""Canonical text for addresses, computed once per distinct value.

A batch of flows holds millions of addresses but few distinct ones, so each
column is factorised (hash, O(n)), the distinct values are formatted with
:mod:`ipaddress` (IPv4 dotted quad, IPv6 RFC 5952 lower-case compressed), and
the texts are gathered back by code. MACs become lower-case colon form.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl
import pyarrow as pa

__all__ = ["address_text", "mac_text"]

B = npt.NDArray[np.bool_]


def _gather(texts: list[str], codes: npt.NDArray[np.int64], valid: B) -> pl.Series:
    dictionary = pl.Series(texts, dtype=pl.String)
    idx = pa.array(codes.astype(np.uint32), mask=~valid)
    return dictionary.gather(pl.Series(idx))


def _factorize(values: np.ndarray) -> tuple[npt.NDArray[np.int64], np.ndarray]:
    codes, uniques = pd.factorize(values, sort=False)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniques)


def address_text(
    v4: npt.NDArray[np.uint32],
    v4_ok: B,
    v6: npt.NDArray[np.uint32],
    v6_ok: B,
) -> pl.Series:
    """Text of per-row addresses: IPv4 where `v4_ok`, IPv6 (4 words) where `v6_ok`, else null.

    Examples
    --------
    >>> import numpy as np
    >>> v4 = np.array([0x0A000001, 0, 0], dtype=np.uint32)
    >>> v6 = np.zeros((3, 4), dtype=np.uint32); v6[1] = [0x20010DB8, 0, 0, 1]
    >>> address_text(v4, np.array([True, False, False]), v6, np.array([False, True, False])).to_list()
    ['10.0.0.1', '2001:db8::1', None]
    """
    n = v4.size
    codes = np.zeros(n, dtype=np.int64)
    texts: list[str] = []
    i4 = np.flatnonzero(v4_ok)
    if i4.size:
        c4, u4 = _factorize(v4[i4])
        texts.extend(str(ipaddress.IPv4Address(int(x))) for x in u4)
        codes[i4] = c4
    i6 = np.flatnonzero(v6_ok & ~v4_ok)
    if i6.size:
        words = v6[i6].astype(np.uint64)
        hi = (words[:, 0] << np.uint64(32)) | words[:, 1]
        lo = (words[:, 2] << np.uint64(32)) | words[:, 3]
        chi, uhi = _factorize(hi)
        clo, ulo = _factorize(lo)
        c6, u6 = _factorize(chi * max(ulo.size, 1) + clo)
        base = len(texts)
        for key in u6:
            h = int(uhi[int(key) // max(ulo.size, 1)])
            lw = int(ulo[int(key) % max(ulo.size, 1)])
            texts.append(str(ipaddress.IPv6Address((h << 64) | lw)))
        codes[i6] = c6 + base
    valid = np.asarray(v4_ok | v6_ok)
    if not texts:
        return pl.Series([None] * n, dtype=pl.String)
    return _gather(texts, codes, valid)


def mac_text(mac: npt.NDArray[np.uint64], ok: B) -> pl.Series:
    """Lower-case colon text of 48-bit MACs held in uint64 (null where not `ok`).

    Examples
    --------
    >>> import numpy as np
    >>> mac_text(np.array([0x0A1B2C3D4E5F], dtype=np.uint64), np.array([True])).to_list()
    ['0a:1b:2c:3d:4e:5f']
    """
    n = mac.size
    idx = np.flatnonzero(ok)
    if not idx.size:
        return pl.Series([None] * n, dtype=pl.String)
    codes = np.zeros(n, dtype=np.int64)
    c, u = _factorize(mac[idx])
    codes[idx] = c
    texts = []
    for x in u:
        h = f"{int(x):012x}"
        texts.append(":".join(h[i : i + 2] for i in range(0, 12, 2)))
    return _gather(texts, codes, np.asarray(ok))
