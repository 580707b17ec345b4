"""Hypothesis strategies: random valid sFlow datagrams plus the rows they must decode to.

Each generated flow sample comes from a ``FlowSpec`` (5-tuple, flags, VLANs,
IPv6 extension headers, ...); the expected row is derived from the spec, not
from parsing bytes, so a round trip checks the decoder against the intent.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from flowlab.sflow import records as r
from flowlab.sflow.packet import build_frame

PORT_PROTOCOLS = (6, 17, 33, 132, 136)
U32 = st.integers(0, 2**32 - 1)


def ipv4() -> st.SearchStrategy[str]:
    return st.integers(0, 2**32 - 1).map(lambda x: str(ipaddress.IPv4Address(x)))


def ipv6() -> st.SearchStrategy[str]:
    sparse = st.lists(st.integers(0, 0xFFFF) | st.just(0), min_size=8, max_size=8).map(
        lambda g: str(ipaddress.IPv6Address(sum(v << (16 * (7 - i)) for i, v in enumerate(g))))
    )
    dense = st.integers(0, 2**128 - 1).map(lambda x: str(ipaddress.IPv6Address(x)))
    return sparse | dense


def mac() -> st.SearchStrategy[str]:
    return st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b))


@dataclass
class FlowSpec:
    src_ip: str
    dst_ip: str
    protocol: int
    src_port: int
    dst_port: int
    tcp_flags: int
    ttl: int
    tos: int
    payload_length: int
    icmp_type: int
    icmp_code: int
    src_mac: str
    dst_mac: str
    vlans: list[int]
    ipv6_extensions: list[int]
    link: str
    padding: bytes | None

    def frame(self) -> bytes:
        return build_frame(
            self.src_ip,
            self.dst_ip,
            self.protocol,
            self.src_port,
            self.dst_port,
            tcp_flags=self.tcp_flags,
            ttl=self.ttl,
            tos=self.tos,
            payload_length=self.payload_length,
            icmp_type=self.icmp_type,
            icmp_code=self.icmp_code,
            src_mac=self.src_mac,
            dst_mac=self.dst_mac,
            vlans=self.vlans,
            ipv6_extensions=self.ipv6_extensions,
            link=self.link,  # type: ignore[arg-type]
        )

    def expected(self) -> dict[str, Any]:
        v6 = ":" in self.src_ip
        row: dict[str, Any] = {
            "src_ip": self.src_ip,
            "dst_ip": self.dst_ip,
            "ip_version": 6 if v6 else 4,
            "protocol": self.protocol,
            "tos": self.tos,
            "ttl": self.ttl,
            "ethertype": 0x86DD if v6 else 0x0800,
            "src_port": self.src_port if self.protocol in PORT_PROTOCOLS else None,
            "dst_port": self.dst_port if self.protocol in PORT_PROTOCOLS else None,
            "tcp_flags": self.tcp_flags if self.protocol == 6 else None,
            "icmp_type": self.icmp_type if self.protocol in (1, 58) else None,
            "icmp_code": self.icmp_code if self.protocol in (1, 58) else None,
            "src_mac": self.src_mac if self.link == "ethernet" else None,
            "dst_mac": self.dst_mac if self.link == "ethernet" else None,
            "vlan": (self.vlans[0] or None) if self.vlans and self.link == "ethernet" else None,
        }
        return row


@st.composite
def flow_specs(draw: st.DrawFn) -> FlowSpec:
    v6 = draw(st.booleans())
    addr = ipv6() if v6 else ipv4()
    protocol = draw(st.sampled_from([6, 17, 1, 58, 132, 33, 136, 47, 50]))
    link = draw(st.sampled_from(["ethernet", "ethernet", "ip"]))
    return FlowSpec(
        src_ip=draw(addr),
        dst_ip=draw(addr),
        protocol=protocol,
        src_port=draw(st.integers(0, 65535)),
        dst_port=draw(st.integers(0, 65535)),
        tcp_flags=draw(st.integers(0, 0x1FF)),
        ttl=draw(st.integers(0, 255)),
        tos=draw(st.integers(0, 255)),
        payload_length=draw(st.integers(0, 1500)),
        icmp_type=draw(st.integers(0, 255)),
        icmp_code=draw(st.integers(0, 255)),
        src_mac=draw(mac()),
        dst_mac=draw(mac()),
        vlans=draw(st.lists(st.integers(0, 4095), max_size=2)) if link == "ethernet" else [],
        ipv6_extensions=draw(st.lists(st.sampled_from([0, 43, 44, 60]), max_size=3)) if v6 else [],
        link=link,
        padding=draw(st.none() | st.binary(min_size=1, max_size=3)),
    )


@dataclass
class Case:
    """A datagram and the rows it must decode to (canonical column names)."""

    datagram: r.Datagram
    flows: list[dict[str, Any]] = field(default_factory=list)
    counters: list[dict[str, Any]] = field(default_factory=list)
    skipped_records: int = 0


def _iface(draw: st.DrawFn, expanded: bool) -> int:
    value = draw(st.integers(0, 0x3FFFFFFF) | st.just(0x3FFFFFFF))
    fmt = draw(st.sampled_from([0, 0, 1, 2]))
    return (fmt << 30) | value


@st.composite
def flow_samples(draw: st.DrawFn) -> tuple[r.FlowSample, dict[str, Any], int]:
    expanded = draw(st.booleans())
    rate = draw(st.integers(1, 2**32 - 1))
    sample = r.FlowSample(
        sequence=draw(U32),
        source_id=draw(st.integers(0, 2**32 - 1 if expanded else 2**24 - 1)),
        source_id_type=draw(st.integers(0, 255 if not expanded else 2**32 - 1)),
        sampling_rate=rate,
        sample_pool=draw(U32),
        drops=draw(U32),
        input_if=_iface(draw, expanded),
        output_if=_iface(draw, expanded),
        expanded=expanded,
    )
    row: dict[str, Any] = {
        "sample_sequence": sample.sequence,
        "source_id": sample.source_id,
        "sampling_rate": rate,
        "in_if": sample.input_if,
        "out_if": sample.output_if,
    }
    skipped = 0
    kind = draw(st.sampled_from(["raw", "raw", "raw", "sampled4", "sampled6", "none"]))
    recs: list[r.FlowRecord] = []
    if kind == "raw":
        spec = draw(flow_specs())
        frame = spec.frame()
        snap = draw(st.integers(len(frame) - spec.payload_length, len(frame)))
        eth = spec.link == "ethernet"
        proto = 1 if eth else (12 if ":" in spec.src_ip else 11)
        recs.append(
            r.RawPacketHeader(
                frame_length=len(frame) + (4 if eth else 0),
                header=frame[:snap],
                protocol=proto,
                stripped=4 if eth else 0,
                padding=spec.padding,
            )
        )
        row.update(spec.expected())
        row["frame_length"] = len(frame) + (4 if eth else 0)
    elif kind in ("sampled4", "sampled6"):
        v6 = kind == "sampled6"
        addr = ipv6() if v6 else ipv4()
        proto = draw(st.sampled_from([6, 17, 1, 58, 47]))
        s, d = draw(addr), draw(addr)
        sp, dp = draw(st.integers(0, 65535)), draw(st.integers(0, 65535))
        flags, tos, length = draw(st.integers(0, 0x1FF)), draw(st.integers(0, 255)), draw(U32)
        cls = r.SampledIPv6 if v6 else r.SampledIPv4
        recs.append(cls(length, proto, s, d, sp, dp, flags, tos))  # type: ignore[arg-type]
        icmp = proto in (1, 58)
        row.update(
            src_ip=s, dst_ip=d, ip_version=6 if v6 else 4, protocol=proto, tos=tos,
            ethertype=0x86DD if v6 else 0x0800, frame_length=length,
            src_port=sp if proto in PORT_PROTOCOLS else None,
            dst_port=dp if proto in PORT_PROTOCOLS else None,
            tcp_flags=flags if proto == 6 else None,
            icmp_type=sp if icmp and sp < 256 else None,
            icmp_code=dp if icmp and dp < 256 else None,
        )  # fmt: skip
    if draw(st.booleans()):
        vid = draw(st.integers(0, 4095))
        recs.append(r.ExtendedSwitch(src_vlan=vid, dst_vlan=draw(st.integers(0, 4095))))
        if row.get("vlan") is None and vid:
            row["vlan"] = vid
    for _ in range(draw(st.integers(0, 2))):
        recs.insert(
            draw(st.integers(0, len(recs))),
            r.UnknownRecord(
                draw(st.sampled_from([1002, 1031, 2, 2100])), draw(st.binary(max_size=12))
            ),
        )
        skipped += 1
    sample.records = recs
    row["packets"] = rate
    if row.get("frame_length") is not None:
        row["bytes"] = row["frame_length"] * rate
    return sample, row, skipped


@st.composite
def counter_samples(draw: st.DrawFn) -> tuple[r.CounterSample, dict[str, Any] | None, int]:
    expanded = draw(st.booleans())
    sample = r.CounterSample(
        sequence=draw(U32),
        source_id=draw(st.integers(0, 2**32 - 1 if expanded else 2**24 - 1)),
        expanded=expanded,
    )
    row: dict[str, Any] = {"sample_sequence": sample.sequence, "source_id": sample.source_id}
    recs: list[r.CounterRecord] = []
    if draw(st.booleans()):
        gen = r.GenericInterfaceCounters(
            if_index=draw(U32), if_speed=draw(st.integers(0, 2**64 - 1)),
            in_octets=draw(st.integers(0, 2**64 - 1) | st.just(2**64 - 1)),
            out_octets=draw(st.integers(0, 2**64 - 1)),
            in_ucast_pkts=draw(U32), out_errors=draw(U32), promiscuous_mode=draw(U32),
        )  # fmt: skip
        recs.append(gen)
        for name in [
            "if_index",
            "if_type",
            "if_speed",
            "if_direction",
            "if_status",
            "in_octets",
            "in_ucast_pkts",
            "out_octets",
            "out_errors",
            "promiscuous_mode",
        ]:
            value = getattr(gen, name)
            wide = name in ("if_speed", "in_octets", "out_octets")  # 64-bit counters
            row[name] = None if value == (2**64 - 1 if wide else 2**32 - 1) else value
    if draw(st.booleans()):
        eth = r.EthernetCounters(fcs_errors=draw(U32 | st.just(2**32 - 1)), symbol_errors=draw(U32))
        recs.append(eth)
        row["dot3_fcs_errors"] = eth.fcs_errors if eth.fcs_errors != 2**32 - 1 else None
        row["dot3_symbol_errors"] = eth.symbol_errors if eth.symbol_errors != 2**32 - 1 else None
    skipped = 0
    for _ in range(draw(st.integers(0, 2))):
        fmt = draw(st.sampled_from([r.COUNTERS_OPENFLOW_PORT, r.COUNTERS_PORT_NAME,
                                    r.COUNTERS_APP_RESOURCES, r.COUNTERS_OVS_DP, r.COUNTERS_LACP]))  # fmt: skip
        recs.insert(
            draw(st.integers(0, len(recs))), r.UnknownRecord(fmt, draw(st.binary(max_size=40)))
        )
        skipped += 1
    sample.records = recs
    return sample, (row if len(recs) > skipped else None), skipped


@st.composite
def cases(draw: st.DrawFn, max_samples: int = 6) -> Case:
    agent = draw(ipv4() | ipv6())
    d = r.Datagram(agent=agent, sequence=draw(U32), uptime_ms=draw(U32), sub_agent_id=draw(U32))
    case = Case(datagram=d)
    common = {"exporter": agent, "sequence": d.sequence, "sub_agent_id": d.sub_agent_id}
    for _ in range(draw(st.integers(0, max_samples))):
        what = draw(st.sampled_from(["flow", "flow", "flow", "counter", "unknown"]))
        if what == "flow":
            sample, row, skipped = draw(flow_samples())
            case.flows.append({**common, **row})
            case.skipped_records += skipped
        elif what == "counter":
            csample, crow, skipped = draw(counter_samples())
            sample = csample  # type: ignore[assignment]
            if crow is not None:
                case.counters.append({**common, **crow})
            case.skipped_records += skipped
        else:
            sample = r.UnknownSample(
                draw(st.sampled_from([5, 6, 1000])), draw(st.binary(max_size=16))
            )  # type: ignore[assignment]
        d.samples.append(sample)
    return case
