"""The decoder interface and the registry of flow protocols.

A flow protocol (sFlow, later NetFlow/IPFIX) plugs into the protocol-neutral
layers (:mod:`flowlab.capture` files, :mod:`flowlab.collect` live UDP) by
providing a :class:`Decoder`: a name, a default UDP port and a ``decode``
method that turns a checked batch of datagrams (a
:class:`~flowlab.decoding.batch.Datagrams`) into a :class:`~flowlab.decoding.decoded.Decoded`.
Its package lists it in :data:`_BUILTIN` (imported on first use) or calls
:func:`register`; the capture reader and the collector then take
``protocol="name"``.

Examples
--------
>>> sflow = get_decoder("sflow")
>>> sflow.name, sflow.port
('sflow', 6343)
>>> protocol_names()
['auto', 'ipfix', 'netflow', 'sflow']
>>> get_decoder("netflow9")
Traceback (most recent call last):
...
flowlab.exceptions.ConfigError: unknown flow protocol 'netflow9'; known: auto, ipfix, netflow, sflow
>>> new_state(sflow)
SequenceTracker(streams=0)
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

import numpy as np

from flowlab.decoding.batch import Datagrams
from flowlab.decoding.decoded import Decoded
from flowlab.decoding.sequence import SequenceTracker
from flowlab.exceptions import ConfigError

__all__ = [
    "AUTO",
    "BATCH_DATAGRAMS",
    "AutoDecoder",
    "Decoder",
    "batch_datagrams",
    "get_decoder",
    "new_state",
    "protocol_names",
    "register",
]

#: protocol name -> module whose ``DECODER`` (or ``module:NAME``) implements it (imported on first use)
_BUILTIN: dict[str, str] = {
    "sflow": "flowlab.sflow.decode",
    "netflow": "flowlab.netflow.decode",  # NetFlow v5 and v9 (and IPFIX) on UDP 2055
    "ipfix": "flowlab.netflow.decode:IPFIX_DECODER",  # the same decoder on UDP 4739
    "auto": "flowlab.decoding.decoder:AUTO",  # each datagram by its version field
}
_LOADED: dict[str, Decoder] = {}


@runtime_checkable
class Decoder(Protocol):
    """A flow protocol's decoder, as the capture reader and the collector use it.

    Attributes
    ----------
    name : str
        The protocol's name (``"sflow"``): the registry key and the default
        ``source`` column of live rows.
    port : int
        The protocol's usual UDP destination port (6343 for sFlow).

    A decoder may also have ``new_state()``, returning the object its
    ``decode`` carries from batch to batch (NetFlow/IPFIX: templates and
    sequence numbers); without it the state is a :class:`SequenceTracker`.
    Callers get it with :func:`new_state`. And it may have ``batch_datagrams``,
    how many datagrams a capture reader hands it at once by default
    (:func:`batch_datagrams`; :data:`BATCH_DATAGRAMS` without it).
    """

    @property
    def name(self) -> str: ...  # read-only: a frozen dataclass (NetFlowDecoder) is a decoder

    @property
    def port(self) -> int: ...

    def decode(self, datagrams: Datagrams, *, source: str = ..., state: Any = None) -> Decoded:
        """Decode `datagrams` (checked by :meth:`~flowlab.decoding.batch.Datagrams.of`).

        Bad bytes never raise: a datagram is decoded or counted in
        ``stats.datagrams_bad``. ``datagrams.peers`` are the UDP source
        addresses, ``datagrams.received_ms`` the receive times (UTC epoch ms),
        ``state`` carries sequence tracking from batch to batch.
        """
        ...


def register(decoder: Decoder) -> None:
    """Make `decoder` available as ``protocol=decoder.name`` (replaces one of the same name)."""
    if not isinstance(decoder, Decoder):
        msg = f"a decoder needs name, port and decode(); found {type(decoder).__name__}"
        raise ConfigError(msg)
    _LOADED[decoder.name] = decoder


def protocol_names() -> list[str]:
    """Names of the known flow protocols, sorted."""
    return sorted(set(_BUILTIN) | set(_LOADED))


def get_decoder(protocol: str | Decoder) -> Decoder:
    """The decoder of `protocol` (a name, or a decoder which is returned as is).

    Raises
    ------
    ConfigError
        No decoder of that name.
    """
    if not isinstance(protocol, str):
        return protocol
    if protocol not in _LOADED:
        if protocol not in _BUILTIN:
            msg = f"unknown flow protocol {protocol!r}; known: {', '.join(protocol_names())}"
            raise ConfigError(msg)
        module, _, attr = _BUILTIN[protocol].partition(":")
        _LOADED[protocol] = getattr(importlib.import_module(module), attr or "DECODER")
    return _LOADED[protocol]


#: datagrams per batch a capture reader hands a decoder, unless the decoder says otherwise
BATCH_DATAGRAMS = 8192


def batch_datagrams(decoder: Decoder) -> int:
    """How many datagrams a capture reader hands `decoder` at once by default.

    A batch has fixed costs (building its frame); a protocol whose datagrams carry few rows
    asks for more of them (Open vSwitch sends IPFIX one record per datagram).

    >>> [batch_datagrams(get_decoder(name)) for name in ("sflow", "ipfix", "netflow")]
    [8192, 32768, 4096]
    """
    size = getattr(decoder, "batch_datagrams", BATCH_DATAGRAMS)
    return size if isinstance(size, int) and size > 0 else BATCH_DATAGRAMS


def new_state(decoder: Decoder) -> Any:
    """A fresh batch-to-batch state for `decoder`: its ``new_state()``, else a SequenceTracker."""
    make = getattr(decoder, "new_state", None)
    return make() if callable(make) else SequenceTracker()


class AutoDecoder:
    """sFlow, NetFlow v5/v9 and IPFIX in one stream, told apart per datagram by the version field.

    sFlow's version is a 32-bit 5 (first two bytes zero); NetFlow and IPFIX
    start with a 16-bit 5, 9 or 10. Each part goes to its protocol's decoder
    (found by name, ``"sflow"`` and ``"netflow"``) with its own state; the
    rows come grouped by protocol. A capture is read on all the usual ports
    (:attr:`ports`).

    Examples
    --------
    >>> AUTO.ports
    (6343, 2055, 4739)
    >>> sorted(new_state(AUTO))
    ['netflow', 'sflow']
    """

    name = "auto"
    port = 6343
    #: the UDP ports a capture reader listens to for this decoder
    ports = (6343, 2055, 4739)

    def new_state(self) -> dict[str, Any]:
        """One state per protocol."""
        return {p: new_state(get_decoder(p)) for p in ("sflow", "netflow")}

    def decode(self, datagrams: Datagrams, *, source: str = "auto", state: Any = None) -> Decoded:
        """Decode each datagram with the decoder its version field names."""
        data, off, ln = datagrams.buffer, datagrams.offsets, datagrams.lengths
        ok = ln >= 2  # Datagrams.of guarantees 0 <= off and off + ln <= data.size
        first = np.where(ok, data[np.clip(off, 0, max(data.size - 2, 0))].astype(np.int64) << 8, 0)
        first |= np.where(ok, data[np.clip(off + 1, 0, max(data.size - 1, 0))], 0)
        is_sflow = ~ok | (first == 0)  # too short to tell: sFlow counts it as bad
        states = state if isinstance(state, dict) else self.new_state()
        parts = []
        for name, mask in (("sflow", is_sflow), ("netflow", ~is_sflow)):
            idx = np.flatnonzero(mask)
            if idx.size:
                part = datagrams if idx.size == len(datagrams) else datagrams.take(idx)
                parts.append(get_decoder(name).decode(part, source=source, state=states[name]))
        return Decoded.concat(parts)


#: the registry's ``"auto"`` entry
AUTO = AutoDecoder()
