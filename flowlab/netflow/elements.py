"""Information elements: every IPFIX / NetFlow v9 field id named once.

IANA's registry (RFC 7012 and later assignments, generated into
:mod:`flowlab.netflow._iana`), the deprecated elements NetFlow v9 exporters
still send (samplingInterval 34, samplerRandomInterval 50, ...), and Open
vSwitch's enterprise elements (VMware, PEN 6876, from OVS's
``ofproto/ipfix-enterprise-entities.def``). The decoder refers to fields by
the constants below, never by bare numbers.

Examples
--------
>>> element(OCTET_DELTA_COUNT)
Element(id=1, enterprise=0, name='octetDeltaCount', type='unsigned64')
>>> element(TUNNEL_KEY, VMWARE).name
'tunnelKey'
>>> element(9999, 1234).name
'e1234.9999'
>>> element(SAMPLING_INTERVAL).name
'samplingInterval'
"""

from __future__ import annotations

from flowlab._plain import Frozen
from flowlab.netflow._iana import IANA

__all__ = ["ELEMENTS", "VMWARE", "Element", "element", "fixed_size"]

#: IANA Private Enterprise Number of VMware, under which Open vSwitch exports its own elements
VMWARE = 6876

# --- IANA elements the decoder reads (RFC 7012 ids) ---
OCTET_DELTA_COUNT = 1
PACKET_DELTA_COUNT = 2
PROTOCOL_IDENTIFIER = 4
IP_CLASS_OF_SERVICE = 5
TCP_CONTROL_BITS = 6
SOURCE_TRANSPORT_PORT = 7
SOURCE_IPV4_ADDRESS = 8
INGRESS_INTERFACE = 10
DESTINATION_TRANSPORT_PORT = 11
DESTINATION_IPV4_ADDRESS = 12
EGRESS_INTERFACE = 14
FLOW_END_SYS_UP_TIME = 21
FLOW_START_SYS_UP_TIME = 22
SOURCE_IPV6_ADDRESS = 27
DESTINATION_IPV6_ADDRESS = 28
ICMP_TYPE_CODE_IPV4 = 32
SAMPLING_INTERVAL = 34
SAMPLING_ALGORITHM = 35
SAMPLER_ID = 48
SAMPLER_MODE = 49
SAMPLER_RANDOM_INTERVAL = 50
SOURCE_MAC_ADDRESS = 56
VLAN_ID = 58
IP_VERSION = 60
FLOW_DIRECTION = 61
DESTINATION_MAC_ADDRESS = 80
OCTET_TOTAL_COUNT = 85
PACKET_TOTAL_COUNT = 86
ICMP_TYPE_CODE_IPV6 = 139
FLOW_START_SECONDS = 150
FLOW_END_SECONDS = 151
FLOW_START_MILLISECONDS = 152
FLOW_END_MILLISECONDS = 153
FLOW_START_MICROSECONDS = 154
FLOW_END_MICROSECONDS = 155
FLOW_START_NANOSECONDS = 156
FLOW_END_NANOSECONDS = 157
FLOW_START_DELTA_MICROSECONDS = 158
FLOW_END_DELTA_MICROSECONDS = 159
SYSTEM_INIT_TIME_MILLISECONDS = 160
ICMP_TYPE_IPV4 = 176
ICMP_CODE_IPV4 = 177
ICMP_TYPE_IPV6 = 178
ICMP_CODE_IPV6 = 179
IP_TTL = 192
TCP_SYN_TOTAL_COUNT = 218
TCP_FIN_TOTAL_COUNT = 219
TCP_RST_TOTAL_COUNT = 220
TCP_PSH_TOTAL_COUNT = 221
TCP_ACK_TOTAL_COUNT = 222
TCP_URG_TOTAL_COUNT = 223
DOT1Q_VLAN_ID = 243
ETHERNET_TYPE = 256
SELECTOR_ID = 302
SAMPLING_PACKET_INTERVAL = 305
SAMPLING_PACKET_SPACE = 306
SAMPLING_PROBABILITY = 311
#: the sampling-algorithm fields of options records: the rate they give, by element
SAMPLING_FIELDS = (
    SAMPLING_INTERVAL,
    SAMPLER_RANDOM_INTERVAL,
    SAMPLING_PACKET_INTERVAL,
    SAMPLING_PACKET_SPACE,
    SAMPLING_PROBABILITY,
)
#: fields naming the sampler (selector) whose rate applies to a record
SAMPLER_FIELDS = (SAMPLER_ID, SELECTOR_ID)
#: the per-flag TCP counters Open vSwitch sends instead of tcpControlBits, with their flag bit
TCP_FLAG_COUNTERS = {
    TCP_FIN_TOTAL_COUNT: 0x01,
    TCP_SYN_TOTAL_COUNT: 0x02,
    TCP_RST_TOTAL_COUNT: 0x04,
    TCP_PSH_TOTAL_COUNT: 0x08,
    TCP_ACK_TOTAL_COUNT: 0x10,
    TCP_URG_TOTAL_COUNT: 0x20,
}

# --- Open vSwitch's enterprise elements (PEN 6876) ---
TUNNEL_TYPE = 891
TUNNEL_KEY = 892
TUNNEL_SOURCE_IPV4_ADDRESS = 893
TUNNEL_DESTINATION_IPV4_ADDRESS = 894
TUNNEL_PROTOCOL_IDENTIFIER = 895
TUNNEL_SOURCE_TRANSPORT_PORT = 896
TUNNEL_DESTINATION_TRANSPORT_PORT = 897
VIRTUAL_OBS_ID = 898

#: the variable-length marker of a template field's length (RFC 7011 section 7)
VARIABLE_LENGTH = 65535

#: deprecated IANA elements (dropped from the current registry) that NetFlow v9 exporters send
_DEPRECATED: dict[int, tuple[str, str]] = {
    SAMPLING_INTERVAL: ("samplingInterval", "unsigned32"),
    SAMPLING_ALGORITHM: ("samplingAlgorithm", "unsigned8"),
    36: ("flowActiveTimeout", "unsigned16"),
    37: ("flowIdleTimeout", "unsigned16"),
    38: ("engineType", "unsigned8"),
    39: ("engineId", "unsigned8"),
    40: ("exportedOctetTotalCount", "unsigned64"),
    41: ("exportedMessageTotalCount", "unsigned64"),
    42: ("exportedFlowRecordTotalCount", "unsigned64"),
    SAMPLER_ID: ("samplerId", "unsigned8"),
    SAMPLER_MODE: ("samplerMode", "unsigned8"),
    SAMPLER_RANDOM_INTERVAL: ("samplerRandomInterval", "unsigned32"),
    84: ("samplerName", "string"),
}

#: Open vSwitch's enterprise elements: id -> (name, type); tunnelKey and virtualObsID vary in length
_OVS: dict[int, tuple[str, str]] = {
    TUNNEL_TYPE: ("tunnelType", "unsigned8"),  # 0 none, 1 GRE, 2 LISP, 3 STT, 5 Geneve, 7 VXLAN
    TUNNEL_KEY: ("tunnelKey", "octetArray"),
    TUNNEL_SOURCE_IPV4_ADDRESS: ("tunnelSourceIPv4Address", "ipv4Address"),
    TUNNEL_DESTINATION_IPV4_ADDRESS: ("tunnelDestinationIPv4Address", "ipv4Address"),
    TUNNEL_PROTOCOL_IDENTIFIER: ("tunnelProtocolIdentifier", "unsigned8"),
    TUNNEL_SOURCE_TRANSPORT_PORT: ("tunnelSourceTransportPort", "unsigned16"),
    TUNNEL_DESTINATION_TRANSPORT_PORT: ("tunnelDestinationTransportPort", "unsigned16"),
    VIRTUAL_OBS_ID: ("virtualObsID", "string"),
}

#: size in bytes of each fixed-size abstract data type (RFC 7011 section 6.1)
_SIZES = {
    "unsigned8": 1,
    "unsigned16": 2,
    "unsigned32": 4,
    "unsigned64": 8,
    "signed8": 1,
    "signed16": 2,
    "signed32": 4,
    "signed64": 8,
    "float32": 4,
    "float64": 8,
    "boolean": 1,
    "macAddress": 6,
    "dateTimeSeconds": 4,
    "dateTimeMilliseconds": 8,
    "dateTimeMicroseconds": 8,
    "dateTimeNanoseconds": 8,
    "ipv4Address": 4,
    "ipv6Address": 16,
}


_set = object.__setattr__


class Element(Frozen):
    """One information element: id, enterprise number (0 = IANA), name and abstract data type."""

    __slots__ = ("enterprise", "id", "name", "type")
    _fields = ("id", "enterprise", "name", "type")

    id: int
    enterprise: int
    name: str
    type: str

    def __init__(self, id: int, enterprise: int, name: str, type: str) -> None:
        _set(self, "id", id)  # (set_fields' keywords cost a third of the import: 356 elements)
        _set(self, "enterprise", enterprise)
        _set(self, "name", name)
        _set(self, "type", type)


#: (enterprise, id) -> Element, for every element flowlab knows
ELEMENTS: dict[tuple[int, int], Element] = {
    **{(0, i): Element(i, 0, n, t) for i, (n, t) in {**IANA, **_DEPRECATED}.items()},
    **{(VMWARE, i): Element(i, VMWARE, n, t) for i, (n, t) in _OVS.items()},
}


def element(eid: int, enterprise: int = 0) -> Element:
    """The element `eid` of `enterprise`; unknown ones get a name ``e<pen>.<id>`` and type octetArray."""
    found = ELEMENTS.get((enterprise, eid))
    if found is not None:
        return found
    name = f"e{enterprise}.{eid}" if enterprise else f"e{eid}"
    return Element(eid, enterprise, name, "octetArray")


def fixed_size(eid: int, enterprise: int = 0) -> int | None:
    """The full size of `eid`'s data type in bytes, or None (variable: strings, octet arrays).

    Examples
    --------
    >>> fixed_size(SOURCE_IPV6_ADDRESS), fixed_size(82)
    (16, None)
    """
    return _SIZES.get(element(eid, enterprise).type)
