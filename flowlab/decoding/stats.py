"""What a decode saw: :class:`DecodeStats`, mergeable across batches.

Every datagram the decoder is given ends up in exactly one of
``datagrams_ok`` or ``datagrams_bad`` (by reason), so
``datagrams == datagrams_ok + sum(datagrams_bad.values())`` always holds.
Capture readers add packet-level counts (``packets``, ``packets_skipped``).

Examples
--------
>>> a = DecodeStats(datagrams=2, datagrams_ok=1, datagrams_bad={"wrong_version": 1})
>>> b = DecodeStats(datagrams=3, datagrams_ok=3, samples={"flow": 12},
...                 lost_datagrams={("10.0.0.1", 0): 2})
>>> total = a.merge(b)
>>> total.datagrams, total.datagrams_bad, total.lost
(5, {'wrong_version': 1}, 2)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["DecodeStats"]


def _add(a: Mapping[Any, int], b: Mapping[Any, int]) -> dict[Any, int]:
    out: Counter[Any] = Counter(a)
    out.update(b)
    return {k: v for k, v in out.items() if v}


@dataclass
class DecodeStats:
    """Counts of one or many decoded batches.

    Attributes
    ----------
    datagrams : int
        Datagrams given to the decoder.
    datagrams_ok : int
        Datagrams fully decoded.
    datagrams_bad : dict[str, int]
        Rejected datagrams by reason (``wrong_version``, ``truncated_header``,
        ``sample_overrun``, ``record_overrun``, ``implausible_count``, ...).
    samples : dict[str, int]
        Samples of decoded datagrams by kind: ``flow``, ``flow_expanded``,
        ``counters``, ``counters_expanded``, ``unknown``.
    samples_skipped : dict[tuple[int, int], int]
        Unknown samples by (enterprise, format), skipped by their length.
    records_skipped : dict[tuple[int, int], int]
        Records not decoded by (enterprise, format): unknown formats (Open
        vSwitch's 1004, 1005, 2203, 2207, LACP 7, ...) and repeats of a
        record kind already seen in the same sample.
    flows, counters : int
        Rows produced in the flows and counters frames.
    flows_without_header : int
        Flow samples with neither a raw header of a supported protocol
        (Ethernet, IPv4, IPv6) nor a sampled IPv4/IPv6 record.
    flows_without_ip : int
        Flow rows without source and destination IP (non-IP frames such as
        ARP, headers cut before the addresses, no header at all).
    lost_datagrams : dict[tuple[str, int], int]
        Datagrams lost per (agent, sub_agent), from sequence gaps.
    sequence_resets : dict[tuple[str, int], int]
        Sequence restarts per (agent, sub_agent) (agent reboot/reconfiguration).
    late_datagrams, duplicate_datagrams : int
        Datagrams that arrived out of order, or twice.
    packets : int
        Capture packets read (capture readers only).
    packets_skipped : dict[str, int]
        Capture packets not decoded, by reason (``other_port``, ``not_udp``,
        ``fragment``, ``truncated``, ``link_type``, ...).
    """

    datagrams: int = 0
    datagrams_ok: int = 0
    datagrams_bad: dict[str, int] = field(default_factory=dict)
    samples: dict[str, int] = field(default_factory=dict)
    samples_skipped: dict[tuple[int, int], int] = field(default_factory=dict)
    records_skipped: dict[tuple[int, int], int] = field(default_factory=dict)
    flows: int = 0
    counters: int = 0
    flows_without_header: int = 0
    flows_without_ip: int = 0
    lost_datagrams: dict[tuple[str, int], int] = field(default_factory=dict)
    sequence_resets: dict[tuple[str, int], int] = field(default_factory=dict)
    late_datagrams: int = 0
    duplicate_datagrams: int = 0
    packets: int = 0
    packets_skipped: dict[str, int] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        """Datagrams lost in total (sum of sequence gaps)."""
        return sum(self.lost_datagrams.values())

    @property
    def bad(self) -> int:
        """Rejected datagrams in total."""
        return sum(self.datagrams_bad.values())

    def merge(self, other: DecodeStats) -> DecodeStats:
        """Return the sum of two stats (neither is modified)."""
        values: dict[str, Any] = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            values[f.name] = _add(a, b) if isinstance(a, dict) else a + b
        return DecodeStats(**values)

    def summary(self) -> str:
        """One line for status displays and logs.

        Examples
        --------
        >>> DecodeStats(datagrams=4, datagrams_ok=4, samples={"flow": 9}, flows=9).summary()
        'datagrams 4 (bad 0), samples 9, flows 9, counters 0, lost 0'
        """
        return (
            f"datagrams {self.datagrams} (bad {self.bad}), samples {sum(self.samples.values())}, "
            f"flows {self.flows}, counters {self.counters}, lost {self.lost}"
        )
