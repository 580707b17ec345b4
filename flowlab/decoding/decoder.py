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
['sflow']
>>> get_decoder("netflow9")
Traceback (most recent call last):
...
flowlab.exceptions.ConfigError: unknown flow protocol 'netflow9'; known: sflow
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import polars as pl

from flowlab.decoding.decoded import Decoded
from flowlab.decoding.sequence import SequenceTracker
from flowlab.exceptions import ConfigError

__all__ = ["Decoder", "get_decoder", "protocol_names", "register"]

#: protocol name -> module whose ``DECODER`` implements it (imported on first use)
_BUILTIN: dict[str, str] = {"sflow": "flowlab.sflow.decode"}
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
        state: SequenceTracker | None = None,
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
        _LOADED[protocol] = importlib.import_module(_BUILTIN[protocol]).DECODER
    return _LOADED[protocol]
