"""Wire-format constants of NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011).

The NetFlow v5 record is fixed: it is described here as the template it
amounts to (IANA element ids, lengths), so that v5 records go through the
same column extraction as IPFIX and v9 data records.

Examples
--------
>>> V5_TEMPLATE.record_length == V5_RECORD
True
>>> HEADER[IPFIX], HEADER[NETFLOW9], HEADER[NETFLOW5]
(16, 20, 24)
"""

from __future__ import annotations

from flowlab.netflow import elements as e
from flowlab.netflow.templates import Template

__all__ = [
    "FORMAT_NAMES",
    "HEADER",
    "IPFIX",
    "NETFLOW5",
    "NETFLOW9",
    "SET_HEADER",
    "V5_RECORD",
    "V5_TEMPLATE",
]

#: version field values (the first 16 bits of every datagram)
NETFLOW5 = 5
NETFLOW9 = 9
IPFIX = 10
#: the ``flow_format`` column's value per version
FORMAT_NAMES = {NETFLOW5: "netflow5", NETFLOW9: "netflow9", IPFIX: "ipfix"}
#: header length per version
HEADER = {NETFLOW5: 24, NETFLOW9: 20, IPFIX: 16}
#: set (flowset) header: id and length, 16 bits each
SET_HEADER = 4
#: set ids of template and options-template sets (IPFIX 2, 3; NetFlow v9 0, 1)
TEMPLATE_SET = {IPFIX: 2, NETFLOW9: 0}
OPTIONS_SET = {IPFIX: 3, NETFLOW9: 1}
#: the lowest data set id (template ids start here)
FIRST_DATA_SET = 256
#: most records a v5 datagram may carry (Cisco's limit: 30; a larger count is implausible)
V5_MAX_COUNT = 30
#: paddingOctets: the v5 record's pad bytes
PADDING = 210
#: NetFlow v5 flow record, 48 bytes, as a template of IANA elements
V5_TEMPLATE = Template(
    0,
    (
        (e.SOURCE_IPV4_ADDRESS, 0, 4),
        (e.DESTINATION_IPV4_ADDRESS, 0, 4),
        (15, 0, 4),  # ipNextHopIPv4Address
        (e.INGRESS_INTERFACE, 0, 2),
        (e.EGRESS_INTERFACE, 0, 2),
        (e.PACKET_DELTA_COUNT, 0, 4),
        (e.OCTET_DELTA_COUNT, 0, 4),
        (e.FLOW_START_SYS_UP_TIME, 0, 4),
        (e.FLOW_END_SYS_UP_TIME, 0, 4),
        (e.SOURCE_TRANSPORT_PORT, 0, 2),
        (e.DESTINATION_TRANSPORT_PORT, 0, 2),
        (PADDING, 0, 1),
        (e.TCP_CONTROL_BITS, 0, 1),
        (e.PROTOCOL_IDENTIFIER, 0, 1),
        (e.IP_CLASS_OF_SERVICE, 0, 1),
        (16, 0, 2),  # bgpSourceAsNumber
        (17, 0, 2),  # bgpDestinationAsNumber
        (9, 0, 1),  # sourceIPv4PrefixLength
        (13, 0, 1),  # destinationIPv4PrefixLength
        (PADDING, 0, 2),
    ),
)
V5_RECORD = 48
