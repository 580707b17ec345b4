"""Per-agent datagram sequence tracking: lost datagrams, restarts, reordering.

Each (agent, sub-agent) numbers its datagrams 1, 2, 3, ... A collector that
sees 7 then 10 lost 8 and 9. The tracker keeps the highest sequence seen per
stream across batches (pass the same :class:`SequenceTracker` to every
:func:`~flowlab.sflow.decode.decode` call) and applies, per stream in arrival
order, with ``max`` the highest sequence seen so far in the current run:

- ``seq > max`` (modulo 2**32, so wrap-around is a step forward):
  ``seq - max - 1`` datagrams lost;
- ``seq == max``: a duplicate, counted, no loss;
- going backwards (compared with the previous datagram of the stream) by more
  than :data:`REORDER_WINDOW`, or to a sequence closer to 1 than to the
  previous one (an agent reboot or an Open vSwitch reconfiguration restarts at
  1): a **restart**, counted in ``resets``; a new run starts at this datagram
  and no loss is assumed;
- otherwise a late (reordered) datagram: counted, and one fewer lost (it was
  counted as lost when the gap appeared).

The first datagram ever seen from a stream starts a run without loss.

Examples
--------
>>> import numpy as np
>>> t = SequenceTracker()
>>> r = t.update([("10.0.0.1", 0)], np.zeros(5, dtype=np.int64), np.array([1, 2, 5, 4, 6]))
>>> r.lost, r.late
({('10.0.0.1', 0): 1}, 1)
>>> r = t.update([("10.0.0.1", 0)], np.zeros(3, dtype=np.int64), np.array([9, 1, 3]))
>>> r.lost, r.resets
({('10.0.0.1', 0): 3}, {('10.0.0.1', 0): 1})
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = ["REORDER_WINDOW", "SequenceResult", "SequenceTracker", "StreamKey"]

#: how far back a datagram may arrive and still count as reordered rather than a restart
REORDER_WINDOW = 64

StreamKey = tuple[str, int]
_MOD = 1 << 32
_HALF = 1 << 31


@dataclass
class SequenceResult:
    """What one batch contributed: losses and restarts per stream, reordering totals."""

    lost: dict[StreamKey, int] = field(default_factory=dict)
    resets: dict[StreamKey, int] = field(default_factory=dict)
    late: int = 0
    duplicates: int = 0


class SequenceTracker:
    """Highest sequence seen per (agent, sub_agent), carried from batch to batch."""

    def __init__(self) -> None:
        #: per stream: (highest sequence of the current run, last sequence seen)
        self.last: dict[StreamKey, tuple[int, int]] = {}

    def __repr__(self) -> str:
        return f"SequenceTracker(streams={len(self.last)})"

    def update(
        self,
        streams: Sequence[StreamKey],
        stream_ids: npt.NDArray[np.int64],
        sequences: npt.ArrayLike,
    ) -> SequenceResult:
        """Account a batch: datagram ``i`` is from ``streams[stream_ids[i]]`` with ``sequences[i]``.

        Datagrams must be given in arrival order.
        """
        seq = np.asarray(sequences, dtype=np.int64) % _MOD
        sid = np.asarray(stream_ids, dtype=np.int64)
        result = SequenceResult()
        if seq.size == 0:
            return result
        order = np.argsort(sid, kind="stable")
        s = seq[order]
        g = sid[order]
        first = np.ones(s.size, dtype=bool)
        first[1:] = g[1:] != g[:-1]
        known = [self.last.get(key, (-1, -1)) for key in streams]
        prior_max = np.array([k[0] for k in known], dtype=np.int64)
        prior_prev = np.array([k[1] for k in known], dtype=np.int64)
        prev = np.empty(s.size, dtype=np.int64)
        prev[1:] = s[:-1]
        prev[first] = prior_prev[g[first]]
        has_prev = prev >= 0
        step = _signed(s - prev)
        back = has_prev & (step < 0)
        reset = back & ((-step > REORDER_WINDOW) | (s <= -step))
        start = first | reset
        run = np.cumsum(start) - 1
        starts = np.flatnonzero(start)
        # position of each datagram on an unwrapped axis within its run
        cont = first & has_prev & ~reset
        csum = np.cumsum(np.where(start, 0, step))
        base = np.where(cont, prev + step, s)[starts]
        u = base[run] + csum - csum[starts][run]
        # a run continuing from the previous batch starts from that batch's maximum
        m_cont = prev + _signed(prior_max[g] - prev)
        floor = np.where(cont, np.maximum(u, m_cont), u)
        run_max = _run_cummax(run, floor)
        m = np.empty(s.size, dtype=np.int64)
        m[1:] = run_max[:-1]
        m = np.where(cont, m_cont, m)
        has_m = cont | ~start
        lost = np.where(has_m & (u > m), u - m - 1, 0)
        late = has_m & (u < m)
        dup = has_m & (u == m)
        lost = lost - late.astype(np.int64)
        result.late = int(late.sum())
        result.duplicates = int(dup.sum())
        per_lost = np.bincount(g, weights=lost, minlength=len(streams))
        per_reset = np.bincount(g, weights=reset, minlength=len(streams))
        for i in np.flatnonzero(np.append(g[1:] != g[:-1], True)):
            self.last[streams[int(g[i])]] = (int(run_max[i]) % _MOD, int(s[i]))
        for k, key in enumerate(streams):
            if int(per_lost[k]):
                result.lost[key] = int(per_lost[k])
            if int(per_reset[k]):
                result.resets[key] = int(per_reset[k])
        return result


def _run_cummax(run: npt.NDArray[np.int64], values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Running maximum of `values` restarting at each run (`run`: 0, 0, 1, 1, 1, 2, ... ascending).

    Each run is lifted above all earlier ones (``run * span``), so one
    ``maximum.accumulate`` never carries a maximum across runs.
    """
    lo = int(values.min())
    shifted = values - lo
    span = int(shifted.max()) + 1
    if int(run[-1]) < (1 << 62) // span:
        lift = run * span
        return np.maximum.accumulate(shifted + lift) - lift + lo
    frame = pl.DataFrame(
        {"run": run, "u": values}
    )  # values too wide to lift (not reachable in practice)
    return frame.select(pl.col("u").cum_max().over("run")).to_series().to_numpy()


def _signed(diff: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Modular difference of 32-bit sequence numbers as a signed value in [-2**31, 2**31)."""
    return np.asarray((diff + _HALF) % _MOD - _HALF, dtype=np.int64)
