"""The decoder interface and the registry of flow protocols.

A flow protocol (sFlow, later NetFlow/IPFIX) plugs into the protocol-neutral
layers (:mod:`flowlab.capture` files, :mod:`flowlab.collect` live UDP) by
providing a :class:`Decoder`: a name, a default UDP port and a ``decode``
method that turns a buffer of datagrams into a :class:`~flowlab.decoding.decoded.Decoded`.
Its package lists it in :data:`_BUILTIN` (imported on first use) or calls
:func:`register`; the capture reader and the collector then take
``protocol="name"``.

Examples
--------
>>> sflow = get_decoder("sflow")
>>> sflow.name, sflow.port
('sflow', 6343)
>>> protocol_names()
['ipfix', 'netflow', 'sflow']
>>> get_decoder("netflow9")
Traceback (most recent call last):
...
flowlab.exceptions.ConfigError: unknown flow protocol 'netflow9'; known: ipfix, netflow, sflow
>>> new_state(sflow)
SequenceTracker(streams=0)
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import polars as pl

from flowlab.decoding.decoded import Decoded
from flowlab.decoding.sequence import SequenceTracker
from flowlab.exceptions import ConfigError

__all__ = ["Decoder", "get_decoder", "new_state", "protocol_names", "register"]

#: protocol name -> module whose ``DECODER`` (or ``module:NAME``) implements it (imported on first use)
_BUILTIN: dict[str, str] = {
    "sflow": "flowlab.sflow.decode",
    "netflow": "flowlab.netflow.decode",  # NetFlow v5 and v9 (and IPFIX) on UDP 2055
    "ipfix": "flowlab.netflow.decode:IPFIX_DECODER",  # the same decoder on UDP 4739
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
    Callers get it with :func:`new_state`.
    """

    name: str
    port: int

    def decode(
        self,
        buffer: bytes | bytearray | memoryview | npt.NDArray[np.uint8],
        offsets: npt.ArrayLike,
        lengths: npt.ArrayLike,
        *,
        received_ms: npt.ArrayLike,
        peers: Sequence[str | None] | pl.Series | None = None,
        source: str = ...,
        state: Any = None,
    ) -> Decoded:
        """Decode the datagrams at ``buffer[offsets[i] : offsets[i] + lengths[i]]``.

        Bad bytes never raise: a datagram is decoded or counted in
        ``stats.datagrams_bad``. ``peers`` are the UDP source addresses,
        ``received_ms`` the receive times (UTC epoch ms), ``state`` carries
        sequence tracking from batch to batch.
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


def new_state(decoder: Decoder) -> Any:
    """A fresh batch-to-batch state for `decoder`: its ``new_state()``, else a SequenceTracker."""
    make = getattr(decoder, "new_state", None)
    return make() if callable(make) else SequenceTracker()
