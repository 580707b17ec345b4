"""tshark as a second oracle: every field value it reads from the real captures, the decoder reads.

Compared field by field as multisets over each capture (records of different
templates carry different fields, so tshark's per-packet lists do not line up
record by record). Open vSwitch's IPFIX templates have up to 67 fields:
tshark needs ``-o cflow.max_template_fields:1000``.
"""

from __future__ import annotations

import ipaddress
from collections import Counter

import polars as pl
import pytest
from netflow_helpers import DATA, tshark_fields

from flowlab.capture import read_pcap

#: tshark field -> the decoder's column (values as integers or canonical text)
FIELDS = {
    "cflow.srcaddr": "src_ip",
    "cflow.dstaddr": "dst_ip",
    "cflow.srcaddrv6": "src_ip",
    "cflow.dstaddrv6": "dst_ip",
    "cflow.srcport": "src_port",
    "cflow.dstport": "dst_port",
    "cflow.protocol": "protocol",
    "cflow.packets": "packets",
    "cflow.octets": "bytes",
    "cflow.direction": "direction",
    "cflow.inputint": "in_if",
    "cflow.outputint": "out_if",
}


def _ours(frame: pl.DataFrame, field: str) -> Counter[str]:
    if field == "cflow.octets":  # non-IP records: layer2OctetDeltaCount (352), not an octets field
        frame = frame.filter(pl.col("src_ip").is_not_null())
    col = frame[FIELDS[field]].drop_nulls().cast(pl.String).to_list()
    if field.endswith("v6"):
        return Counter(v for v in col if ":" in v)
    if field.endswith(("srcaddr", "dstaddr")):
        return Counter(v for v in col if ":" not in v)
    return Counter(col)


@pytest.mark.parametrize(
    ("name", "protocol", "port"),
    [("ovs-ipfix-sampling1", "ipfix", 4739), ("ovs-ipfix-ovnk", "ipfix", 4739),
     ("ovs-netflow", "netflow", 2055)],
)  # fmt: skip
def test_fields_equal_tshark(name: str, protocol: str, port: int) -> None:
    path = DATA / f"{name}.pcap"
    frame = read_pcap(path, protocol=protocol).flows
    rows = tshark_fields(path, list(FIELDS), port=port)
    compared = 0
    for field in FIELDS:
        theirs = [v for r in rows for v in r[field]]
        if field.endswith("v6"):
            theirs = [str(ipaddress.IPv6Address(v)) for v in theirs]
        if field in ("cflow.srcport", "cflow.dstport"):
            # tshark shows v5's ICMP type*256+code as a port; the decoder moves it to icmp_*
            icmp = frame.filter(pl.col("protocol").is_in([1, 58]))
            ours = _ours(frame, field)
            if protocol == "netflow":
                ours += Counter(
                    str((t << 8) | c) if field == "cflow.dstport" else "0"
                    for t, c in zip(icmp["icmp_type"], icmp["icmp_code"])
                )
        else:
            ours = _ours(frame, field)
        if not theirs and not ours:
            continue
        assert ours == Counter(theirs), field
        compared += 1
    assert compared >= 8
