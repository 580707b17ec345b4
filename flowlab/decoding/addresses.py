"""Canonical text for addresses, computed once per distinct value.

A batch of flows holds millions of addresses but few distinct ones, so each
column is factorised (hash, O(n)), the distinct values are formatted once (IPv4
dotted quad, IPv6 RFC 5952 lower-case compressed by :mod:`ipaddress`, MACs in
lower-case colon form), and the texts are gathered back by code. With the compiled
core, the distinct addresses are written straight into a String column
(:func:`flowlab._series.texts`, the same texts), and a frame's addresses that are
mostly distinct, as in a flood of spoofed sources, are written row by row
(:class:`Endpoints`): tens of nanoseconds an address, not a Python string each.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from types import ModuleType

import numpy as np
import numpy.typing as npt
import polars as pl

from flowlab import _accel
from flowlab._arrays import B
from flowlab._pool import pool_of
from flowlab._series import addresses as core_addresses
from flowlab._series import series
from flowlab._series import texts as core_texts

__all__ = [
    "Endpoints",
    "address_codes",
    "address_text",
    "code_series",
    "mac_codes",
    "mac_text",
    "text_of",
]


_CACHE_LIMIT = 1 << 18
_V4: dict[int, str] = {}
_V6: dict[int, str] = {}
_MAC: dict[int, str] = {}


def _texts(
    values: np.ndarray, cache: dict[int, str], fmt: Callable[[int], str], kind: str = ""
) -> pl.Series:
    """Text of each distinct value: by the compiled core for a `kind` it writes, else formatted
    in Python and remembered across batches (addresses repeat)."""
    written = core_texts(values, kind) if kind else None
    if written is not None:
        return written
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    out = []
    for v in values.tolist():
        t = cache.get(v)
        if t is None:
            t = cache[v] = fmt(v)
        out.append(t)
    return pl.Series(out, dtype=pl.String)


def _v6_texts(hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]) -> pl.Series:
    full = [(h << 64) | low for h, low in zip(hi.tolist(), lo.tolist())]
    return _texts(np.array(full, dtype=object), _V6, lambda x: str(ipaddress.IPv6Address(x)))


@functools.cache
def _ipv6_kind() -> str:
    """How the compiled core writes IPv6: as this Python's ipaddress does, whose text of
    IPv4-mapped addresses changed (``::ffff:102:304``, later ``::ffff:1.2.3.4``)."""
    dotted = "." in str(ipaddress.IPv6Address("::ffff:1.2.3.4"))
    return "ipv6, mapped dotted" if dotted else "ipv6"


def _v4(x: int) -> str:
    return f"{x >> 24}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}"


def _mac(x: int) -> str:
    h = f"{x:012x}"
    return f"{h[0:2]}:{h[2:4]}:{h[4:6]}:{h[6:8]}:{h[8:10]}:{h[10:12]}"


def code_series(codes: npt.NDArray[np.int64]) -> pl.Series:
    """Codes as a UInt32 Series, null where a code is negative.

    Examples
    --------
    >>> import numpy as np
    >>> code_series(np.array([2, -1])).to_list()
    [2, None]
    """
    series = pl.Series(codes.astype(np.uint32))
    if codes.size and codes.min() < 0:  # nulls by mask (no numpy.ma: a 10 ms import)
        return series.set(pl.Series(codes < 0), None)
    return series


def text_of(texts: pl.Series | list[str], codes: npt.NDArray[np.int64]) -> pl.Series:
    """``texts[codes]`` as a String Series, null where a code is negative.

    Gathering 16-byte string views from a small dictionary is several times
    cheaper than formatting, or than choosing between two string columns row
    by row, which is why callers work on codes as long as they can.

    Examples
    --------
    >>> import numpy as np
    >>> text_of(["a", "b"], np.array([1, -1, 0])).to_list()
    ['b', None, 'a']
    """
    # gathering by an index Series: null where the code is negative, no numpy index conversion
    index = series(np.maximum(codes, 0).astype(np.uint32), codes >= 0 if codes.size else None)
    dictionary = texts if isinstance(texts, pl.Series) else pl.Series(texts, dtype=pl.String)
    return dictionary[index]


def factorize(values: np.ndarray) -> tuple[npt.NDArray[np.int64], np.ndarray]:
    """Codes of `values` into their distinct values (``uniques[codes] == values``), by value order.

    Polars' dense rank: hash-free and faster than a NumPy sort, and no pandas import. Works on
    integer arrays and on object arrays of strings, where ``None`` gets code -1.

    Examples
    --------
    >>> import numpy as np
    >>> codes, uniques = factorize(np.array([7, 3, 7, 9], dtype=np.uint32))
    >>> codes.tolist(), uniques.tolist()
    ([1, 0, 1, 2], [3, 7, 9])
    >>> factorize(np.array(["b", None, "a"], dtype=object))[0].tolist()
    [1, -1, 0]
    """
    if not values.size:
        return np.zeros(0, dtype=np.int64), values[:0]
    if values.dtype != object:  # the hot path: integers, no nulls, no masks
        if values.min() == values.max():  # one value (one exporter's address): no ranking
            return np.zeros(values.size, dtype=np.int64), values[:1].copy()
        core = _accel.native()
        if core is not None and values.dtype.kind in "iu" and values.dtype.itemsize <= 8:
            return _factorize_native(core, values)
        rank = pl.Series(values).rank("dense").to_numpy()
        codes = np.subtract(rank, 1, dtype=np.int64)
        uniques = np.empty(int(rank.max()), dtype=values.dtype)
        uniques[codes] = values
        return codes, uniques
    text_rank = pl.Series(values, dtype=pl.String).rank("dense").fill_null(0)
    codes = np.subtract(text_rank.to_numpy(), 1, dtype=np.int64)
    uniques = np.empty(int(codes.max()) + 1, dtype=values.dtype)
    uniques[codes[codes >= 0]] = values[codes >= 0]
    return codes, uniques


_SIGN = np.uint64(1 << 63)


def _factorize_native(
    core: ModuleType, values: np.ndarray
) -> tuple[npt.NDArray[np.int64], np.ndarray]:
    """:func:`factorize` of an integer array by the compiled core's hash table."""
    signed = values.dtype.kind == "i"
    n = values.size
    # the keys, the distinct ones and the core's working memory on buffers kept from call to call
    # (fresh ones cost more in page faults than the work); the codes are the caller's
    pool = pool_of("factorize")
    keys = pool.take((n,), np.uint64)
    if signed:  # as uint64 keys whose order is the values' order: the sign bit flipped
        np.bitwise_xor(values.astype(np.int64).view(np.uint64), _SIGN, out=keys)
    else:
        keys[:] = values
    codes = np.empty(n, dtype=np.int64)
    uniques = pool.take((n,), np.uint64)
    count = core.factorize_u64(
        keys, codes, uniques, pool.take((core.factorize_scratch(n),), np.uint8)
    )
    distinct = uniques[:count]
    if signed:
        distinct = (distinct ^ _SIGN).view(np.int64)
    return codes, distinct.astype(values.dtype)


def address_codes(
    v4: npt.NDArray[np.uint32],
    v4_ok: B,
    v6: npt.NDArray[np.uint32],
    v6_ok: B,
) -> tuple[npt.NDArray[np.int64], pl.Series]:
    """Per-row addresses as codes into their distinct texts, a String Series (code -1: null).

    IPv4 where `v4_ok`, else IPv6 (4 words per row) where `v6_ok`; `v6` is read
    only there (it may have no rows when `v6_ok` has no True). The texts
    are canonical: dotted quad, RFC 5952 compressed lower-case IPv6.

    Examples
    --------
    >>> import numpy as np
    >>> v4 = np.array([0x0A000001, 0, 0x0A000001], dtype=np.uint32)
    >>> v6 = np.zeros((3, 4), dtype=np.uint32); v6[1] = [0x20010DB8, 0, 0, 1]
    >>> ok4 = np.array([True, False, True]); ok6 = np.array([False, True, False])
    >>> codes, texts = address_codes(v4, ok4, v6, ok6)
    >>> codes.tolist(), texts.to_list()
    ([0, 1, 0], ['10.0.0.1', '2001:db8::1'])
    """
    n = v4.size
    if not v6_ok.any() and v4_ok.all():  # the usual batch: every row IPv4, no masks
        c4, u4 = factorize(v4)
        return c4, _texts(u4, _V4, _v4, "ipv4")
    codes = np.full(n, -1, dtype=np.int64)
    texts = [pl.Series(dtype=pl.String)]
    i4 = np.flatnonzero(v4_ok)
    if i4.size:
        c4, u4 = factorize(v4[i4])
        texts[0] = _texts(u4, _V4, _v4, "ipv4")
        codes[i4] = c4
    i6 = np.flatnonzero(v6_ok & ~v4_ok)
    if i6.size:
        words = v6[i6].astype(np.uint64)
        hi = (words[:, 0] << np.uint64(32)) | words[:, 1]
        lo = (words[:, 2] << np.uint64(32)) | words[:, 3]
        chi, uhi = factorize(hi)
        clo, ulo = factorize(lo)
        c6, u6 = factorize(chi * max(ulo.size, 1) + clo)
        base = len(texts[0])
        width = max(ulo.size, 1)
        hi64, lo64 = uhi[u6 // width], ulo[u6 % width]
        quads = np.stack([hi64 >> 32, hi64, lo64 >> 32, lo64], axis=1).astype(np.uint32)
        written = core_texts(quads, _ipv6_kind())
        texts.append(written if written is not None else _v6_texts(hi64, lo64))
        codes[i6] = c6 + base
    # one chunk: gathering from a chunked dictionary costs several times more
    return codes, pl.concat(texts, rechunk=True) if len(texts) > 1 else texts[0]


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
    codes, texts = address_codes(v4, v4_ok, v6, v6_ok)
    return text_of(texts, codes)


class Endpoints:
    """The source and destination addresses of a frame's `n` rows as text, and rows chosen from
    either (a client, a server).

    Built from ``2n`` entries: the sources, then the destinations (IPv4 where `v4_ok`, else IPv6
    where `v6_ok`, else null; `v6` may have no rows when no `v6_ok` is set), or of MACs
    (:meth:`of_macs`). Few distinct
    addresses, as in any real batch: codes into their texts, each formatted once. Many, as in a
    flood of spoofed sources: every entry written by the compiled core, which costs less than
    finding the distinct ones. Both give the same texts.

    Examples
    --------
    >>> import numpy as np
    >>> v4 = np.array([0x0A000001, 0x0A000002, 0x0A000003, 0], dtype=np.uint32)
    >>> ok4 = np.array([True, True, True, False])
    >>> ends = Endpoints(v4, ok4, np.zeros((0, 4), dtype=np.uint32), np.zeros(4, dtype=bool))
    >>> ends.src.to_list(), ends.dst.to_list()
    (['10.0.0.1', '10.0.0.2'], ['10.0.0.3', None])
    >>> ends.pick(np.array([True, False]), np.array([True, True])).to_list()
    ['10.0.0.1', None]
    """

    #: a sample of this many entries tells whether the addresses are mostly distinct
    SAMPLE = 2048

    def __init__(self, v4: npt.NDArray[np.uint32], v4_ok: B, v6: np.ndarray, v6_ok: B) -> None:
        self.n = v4.size // 2
        self._both: pl.Series | None = None
        if _mostly_distinct(v4_ok | v6_ok, _ip_keys(v4, v4_ok, v6)):
            self._both = core_addresses(v4, v4_ok, v6, v6_ok, _ipv6_kind())
        if self._both is None:
            self._codes, self._texts = address_codes(v4, v4_ok, v6, v6_ok)

    @classmethod
    def of_macs(cls, mac: npt.NDArray[np.uint64], ok: B) -> Endpoints:
        """The same of 48-bit MACs held in uint64 (lower-case colon form; null where not `ok`).

        >>> import numpy as np
        >>> ends = Endpoints.of_macs(np.array([0x0A1B2C3D4E5F, 1], dtype=np.uint64),
        ...                          np.array([True, False]))
        >>> ends.src.to_list(), ends.dst.to_list()
        (['0a:1b:2c:3d:4e:5f'], [None])
        """
        ends = cls.__new__(cls)
        ends.n, ends._both = mac.size // 2, None
        if _mostly_distinct(ok, lambda picked: mac[picked].astype(np.uint64)):
            ends._both = core_texts(mac, "mac", ok)
        if ends._both is None:
            ends._codes, ends._texts = mac_codes(mac, ok)
        return ends

    @property
    def src(self) -> pl.Series:
        """The sources' texts."""
        if self._both is not None:
            return self._both.slice(0, self.n)
        return text_of(self._texts, self._codes[: self.n])

    @property
    def dst(self) -> pl.Series:
        """The destinations' texts."""
        if self._both is not None:
            return self._both.slice(self.n, self.n)
        return text_of(self._texts, self._codes[self.n :])

    def pick(self, from_src: B, valid: B) -> pl.Series:
        """Each row's source where `from_src`, else its destination; null where not `valid`."""
        rows = np.arange(self.n)
        entry = np.where(from_src, rows, rows + self.n)
        if self._both is not None:
            return self._both[series(entry.astype(np.uint32), valid)]
        return text_of(self._texts, np.where(valid, self._codes[entry], -1))


def _mostly_distinct(present: B, keys_of: Callable[[npt.NDArray[np.intp]], np.ndarray]) -> bool:
    """Whether most of the present entries are distinct, judged on an even sample of their keys
    (``keys_of(entries)``, uint64)."""
    entries = np.flatnonzero(present)
    if entries.size < 64:  # a few rows: the codes are cheap
        return False
    picked = entries[:: max(1, entries.size // Endpoints.SAMPLE)]
    keys = keys_of(picked)
    keys.sort()  # distinct ones counted without np.unique (its first call imports numpy.ma, 15 ms)
    return bool((1 + np.count_nonzero(keys[1:] != keys[:-1])) * 2 > picked.size)


def _ip_keys(v4: npt.NDArray[np.uint32], v4_ok: B, v6: np.ndarray) -> Callable[..., np.ndarray]:
    """The sample keys of addresses: an IPv4 one, or an IPv6 one's words folded (a collision only
    merges two samples)."""

    def keys_of(picked: npt.NDArray[np.intp]) -> np.ndarray:
        keys = v4[picked].astype(np.uint64)
        six = ~v4_ok[picked]
        if six.any():
            w = v6[picked[six]].astype(np.uint64)
            hi, lo = w[:, 0] << np.uint64(32) | w[:, 1], w[:, 2] << np.uint64(32) | w[:, 3]
            keys[six] = hi ^ lo * np.uint64(0x9E3779B97F4A7C15)
        return keys

    return keys_of


def mac_codes(mac: npt.NDArray[np.uint64], ok: B) -> tuple[npt.NDArray[np.int64], pl.Series]:
    """48-bit MACs held in uint64 as codes into their lower-case colon texts (-1: null).

    Examples
    --------
    >>> import numpy as np
    >>> codes, texts = mac_codes(np.array([0x0A1B2C3D4E5F, 0], dtype=np.uint64),
    ...                          np.array([True, False]))
    >>> codes.tolist(), texts.to_list()
    ([0, -1], ['0a:1b:2c:3d:4e:5f'])
    """
    if mac.size and ok.all():  # the usual batch: no masks
        c, u = factorize(mac)
        return c, _texts(u, _MAC, _mac, "mac")
    codes = np.full(mac.size, -1, dtype=np.int64)
    idx = np.flatnonzero(ok)
    if not idx.size:
        return codes, pl.Series(dtype=pl.String)
    c, u = factorize(mac[idx])
    codes[idx] = c
    return codes, _texts(u, _MAC, _mac, "mac")


def mac_text(mac: npt.NDArray[np.uint64], ok: B) -> pl.Series:
    """Lower-case colon text of 48-bit MACs held in uint64 (null where not `ok`).

    Examples
    --------
    >>> import numpy as np
    >>> mac_text(np.array([0x0A1B2C3D4E5F], dtype=np.uint64), np.array([True])).to_list()
    ['0a:1b:2c:3d:4e:5f']
    """
    codes, texts = mac_codes(mac, ok)
    return text_of(texts, codes)
