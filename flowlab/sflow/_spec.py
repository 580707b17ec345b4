"""sFlow v5 numbers (sflow.org/sflow_version_5.txt), named once: formats, tags and fixed lengths.

The decoder (pure and compiled), the encoder and :mod:`flowlab.sflow.records` take them from
here; ``native/sflow.c`` names the same numbers for the compiled core, and a test checks that
both agree.
"""

from __future__ import annotations

__all__ = [
    "AGENT_ADDRESS_IPV4",
    "AGENT_ADDRESS_IPV6",
    "COUNTERS_APP_RESOURCES",
    "COUNTERS_ETHERNET",
    "COUNTERS_GENERIC_IF",
    "COUNTERS_LACP",
    "COUNTERS_OPENFLOW_PORT",
    "COUNTERS_OVS_DP",
    "COUNTERS_PORT_NAME",
    "COUNTER_RECORD_LENGTH",
    "FLOW_ETHERNET",
    "FLOW_EXTENDED_ROUTER",
    "FLOW_EXTENDED_SWITCH",
    "FLOW_RAW_HEADER",
    "FLOW_RECORD_LENGTH",
    "FLOW_SAMPLED_IPV4",
    "FLOW_SAMPLED_IPV6",
    "HEADER_PROTOCOL_ETHERNET",
    "HEADER_PROTOCOL_IPV4",
    "HEADER_PROTOCOL_IPV6",
    "IF_INTERNAL",
    "SAMPLE_COUNTERS",
    "SAMPLE_COUNTERS_EXPANDED",
    "SAMPLE_FIXED_LENGTH",
    "SAMPLE_FLOW",
    "SAMPLE_FLOW_EXPANDED",
    "SFLOW_VERSION",
]

SFLOW_VERSION = 5

# datagram header "agent address type"
AGENT_ADDRESS_IPV4 = 1
AGENT_ADDRESS_IPV6 = 2

# Sample formats (enterprise 0)
SAMPLE_FLOW = 1
SAMPLE_COUNTERS = 2
SAMPLE_FLOW_EXPANDED = 3
SAMPLE_COUNTERS_EXPANDED = 4

# Flow record formats (enterprise 0)
FLOW_RAW_HEADER = 1
FLOW_ETHERNET = 2
FLOW_SAMPLED_IPV4 = 3
FLOW_SAMPLED_IPV6 = 4
FLOW_EXTENDED_SWITCH = 1001
FLOW_EXTENDED_ROUTER = 1002

# Counter record formats (enterprise 0)
COUNTERS_GENERIC_IF = 1
COUNTERS_ETHERNET = 2
COUNTERS_LACP = 7
# Open vSwitch also sends these; flowlab skips them by their length and counts them:
# 1004 OpenFlow port, 1005 port name, 2203 app resources, 2207 OVS datapath stats.
COUNTERS_OPENFLOW_PORT = 1004
COUNTERS_PORT_NAME = 1005
COUNTERS_APP_RESOURCES = 2203
COUNTERS_OVS_DP = 2207

# raw packet header "header_protocol"
HEADER_PROTOCOL_ETHERNET = 1
HEADER_PROTOCOL_IPV4 = 11
HEADER_PROTOCOL_IPV6 = 12

# interface value meaning "internal / unknown" (0x3FFFFFFF)
IF_INTERNAL = 0x3FFFFFFF

#: bytes of each sample format's fixed part, up to and including its record count
SAMPLE_FIXED_LENGTH: dict[int, int] = {
    SAMPLE_FLOW: 32,
    SAMPLE_COUNTERS: 12,
    SAMPLE_FLOW_EXPANDED: 44,
    SAMPLE_COUNTERS_EXPANDED: 16,
}
#: bytes of the fixed body of the flow records the decoder reads (a raw header adds its bytes)
FLOW_RECORD_LENGTH: dict[int, int] = {
    FLOW_RAW_HEADER: 16,
    FLOW_SAMPLED_IPV4: 32,
    FLOW_SAMPLED_IPV6: 56,
    FLOW_EXTENDED_SWITCH: 16,
}
#: bytes of the body of the counter records the decoder reads
COUNTER_RECORD_LENGTH: dict[int, int] = {COUNTERS_GENERIC_IF: 88, COUNTERS_ETHERNET: 52}
