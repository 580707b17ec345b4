"""NetFlow v5, NetFlow v9 and IPFIX: information elements, templates, encoder and decoder.

Layered like the wire format (datagram -> set -> template / record -> field):
:mod:`~flowlab.netflow.elements` names every element once (IANA and Open
vSwitch's VMware ones), :mod:`~flowlab.netflow.records` the wire constants,
:mod:`~flowlab.netflow.templates` the template cache and decoder state,
:mod:`~flowlab.netflow.decode` turns buffers of datagrams into the canonical
frame (one row per flow record), :mod:`~flowlab.netflow.encode` writes
datagrams (tests, demo). Registered as ``protocol="netflow"`` (UDP 2055) and
``protocol="ipfix"`` (UDP 4739) for :func:`flowlab.capture.read_pcap` and
the collector; both decode all three versions.

Examples
--------
>>> from flowlab.netflow import Flow, netflow5_datagram, decode
>>> wire = netflow5_datagram([Flow("10.0.0.1", "10.0.0.2", 17, 5353, 53, packets=2, octets=140)])
>>> decode(wire, [0], [len(wire)], received_ms=[0]).flows.select("service_name", "bytes").row(0)
('dns', 140)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowlab import _lazy
from flowlab.netflow.decode import NetFlowDecoder, decode, infer_sampling_rate, one_direction
from flowlab.netflow.elements import Element, element
from flowlab.netflow.templates import NetFlowState, Template, TemplateCache

if TYPE_CHECKING:
    from flowlab.netflow.encode import Flow, ipfix_datagram, netflow5_datagram, netflow9_datagram

#: the writing side, imported on first use: reading captures (the decoder's first use) skips it
_LAZY = {
    "flowlab.netflow.encode": ("Flow", "ipfix_datagram", "netflow5_datagram", "netflow9_datagram")
}

__getattr__, __dir__ = _lazy.attach(globals(), _LAZY)

__all__ = [
    "Element",
    "Flow",
    "NetFlowDecoder",
    "NetFlowState",
    "Template",
    "TemplateCache",
    "decode",
    "element",
    "infer_sampling_rate",
    "ipfix_datagram",
    "netflow5_datagram",
    "netflow9_datagram",
    "one_direction",
]
