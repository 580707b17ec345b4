"""What flow-protocol decoders share: the :class:`Decoder` interface and registry,
the checked batch of datagrams a decoder reads (:class:`Datagrams`), the
:class:`Decoded` result, :class:`DecodeStats` and sequence-gap tracking.

Protocol packages (:mod:`flowlab.sflow`, a later ``flowlab.netflow`` or
``flowlab.ipfix``) implement a :class:`Decoder`; the protocol-neutral layers
(:mod:`flowlab.capture` for pcap/pcapng files, :mod:`flowlab.collect` for live
UDP) look it up by name with :func:`get_decoder` and never import a protocol
package themselves.
"""

from __future__ import annotations

from flowlab.decoding.batch import Datagrams
from flowlab.decoding.decoded import Decoded
from flowlab.decoding.decoder import Decoder, get_decoder, new_state, protocol_names, register
from flowlab.decoding.sequence import SequenceTracker
from flowlab.decoding.stats import DecodeStats

__all__ = [
    "Datagrams",
    "DecodeStats",
    "Decoded",
    "Decoder",
    "SequenceTracker",
    "get_decoder",
    "new_state",
    "protocol_names",
    "register",
]
