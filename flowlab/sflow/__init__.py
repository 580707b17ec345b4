"""sFlow v5: records, encoder, vectorised decoder, pcap reader and live collector.

Layered like the wire format (transport -> datagram -> sample -> record ->
packet header): :mod:`~flowlab.sflow.records` holds the spec constants,
:mod:`~flowlab.sflow.encode` writes datagrams, :mod:`~flowlab.sflow.decode`
turns buffers of datagrams into canonical frames, :mod:`~flowlab.sflow.pcap`
reads capture files, :mod:`~flowlab.sflow.collector` owns the UDP socket.
"""

from __future__ import annotations

__all__: list[str] = []
