"""Synthetic canonical flow frames for the Elasticsearch tests (seeded, vectorised).

The traffic looks like an OpenShift cluster's: pod-to-pod TCP to etcd, the API
server, kubelets and HTTPS, UDP DNS, some ICMP without ports, a few IPv6 rows,
replies as well as requests, SYN-only handshakes, flags 0, several exporters
and sampling rates, spread over several UTC days (so daily indices differ).
"""

from __future__ import annotations

import numpy as np
import polars as pl

import flowlab.schema as fs
from flowlab.services import orient_frame

SERVER_PORTS_TCP = np.array([2379, 2380, 6443, 443, 10250, 9100, 8080, 22])
EXPORTERS = np.array(["10.0.0.5", "10.0.0.6", "10.0.0.7"])


def synthetic_flows(
    n: int,
    *,
    seed: int = 0,
    start_ms: int = 1_625_097_600_000,
    days: float = 3.0,
    clients: int | None = None,
    servers: int | None = None,
    fanout: int = 6,
) -> pl.DataFrame:
    """`n` canonical flow rows, oriented with flowlab's service table.

    By default any client may talk to any server port (many distinct edges).
    With `clients` and `servers`, each server IP serves one port and each
    client talks to `fanout` servers, as pods in a cluster do (few edges).
    """
    rng = np.random.default_rng(seed)
    kind = rng.choice(np.array([0, 1, 2, 3]), size=n, p=[0.80, 0.10, 0.06, 0.04])  # tcp udp icmp v6
    time = start_ms + rng.integers(0, int(days * 86_400_000), n)
    if clients and servers:
        client_id = rng.integers(0, clients, n)
        server_id = (client_id * 7 + rng.integers(0, fanout, n)) % servers
        a, b = client_id // 250, client_id % 250 + 1
        c, d = server_id // 250, server_id % 250 + 1
        fixed_port = SERVER_PORTS_TCP[server_id % len(SERVER_PORTS_TCP)]
    else:
        a = rng.integers(0, 4, n)
        b = rng.integers(1, 60, n)
        c = rng.integers(0, 4, n)
        d = rng.integers(1, 60, n)
        fixed_port = rng.choice(SERVER_PORTS_TCP, n)
    v4_src = np.char.add(np.char.add("10.128.", a.astype(str)), np.char.add(".", b.astype(str)))
    v4_dst = np.char.add(np.char.add("10.130.", c.astype(str)), np.char.add(".", d.astype(str)))
    v6_src = np.char.add("fd01:0:0:1::", b.astype(str))
    v6_dst = np.char.add("fd01:0:0:2::", d.astype(str))
    is_v6 = kind == 3
    client = np.where(is_v6, v6_src, v4_src)
    server = np.where(is_v6, v6_dst, v4_dst)
    svc = np.where(kind == 1, 53, fixed_port)
    eph = rng.integers(32768, 61000, n)
    reply = rng.random(n) < 0.4
    src = np.where(reply, server, client)
    dst = np.where(reply, client, server)
    src_port = np.where(reply, svc, eph)
    dst_port = np.where(reply, eph, svc)
    proto = np.select([kind == 1, kind == 2], [17, 1], 6)
    flags = rng.choice(
        np.array([16, 24, 17, 18, 2, 20, 0, 25]),
        size=n,
        p=[0.45, 0.3, 0.05, 0.05, 0.08, 0.03, 0.02, 0.02],
    )
    flags = np.where(reply & (flags == 2), 18, flags)  # a reply is never a bare SYN
    rate = rng.choice(np.array([1, 400, 1000]), size=n)
    frame_len = rng.integers(60, 1515, n)
    has_ports = kind != 2
    frame = pl.DataFrame(
        {
            "time": time,
            "exporter": rng.choice(EXPORTERS, n),
            "src_ip": src,
            "dst_ip": dst,
            "src_port": pl.Series(src_port).set(pl.Series(~has_ports), None),
            "dst_port": pl.Series(dst_port).set(pl.Series(~has_ports), None),
            "protocol": proto,
            "sampling_rate": rate,
            "frame_length": frame_len,
            "ip_version": np.where(is_v6, 6, 4),
            "tcp_flags": pl.Series(flags).set(pl.Series(proto != 6), None),
            "icmp_type": pl.Series(np.where(kind == 2, 8, 0)).set(pl.Series(kind != 2), None),
            "icmp_code": pl.Series(np.zeros(n, dtype=np.int64)).set(pl.Series(kind != 2), None),
            "tos": rng.integers(0, 256, n),
            "ttl": rng.integers(1, 256, n),
            "ethertype": np.where(is_v6, 0x86DD, 0x0800),
            "vlan": pl.Series(rng.integers(1, 4095, n)).set(pl.Series(rng.random(n) < 0.9), None),
            "src_mac": np.char.add("0a:58:0a:80:00:", np.char.zfill(np.char.mod("%x", b), 2)),
            "dst_mac": np.char.add("0a:58:0a:82:00:", np.char.zfill(np.char.mod("%x", d), 2)),
            "in_if": rng.integers(1, 40, n),
            "out_if": np.where(rng.random(n) < 0.5, 0x3FFFFFFF, rng.integers(1, 40, n)),
            "sequence": rng.integers(0, 1 << 31, n),
            "sub_agent_id": rng.integers(0, 3, n),
            "sample_sequence": rng.integers(0, 1 << 31, n),
            "source_id": rng.integers(1, 40, n),
            "source": ["sflow"] * n,
        }
    ).with_columns(pl.from_epoch("time", "ms").dt.replace_time_zone("UTC"))
    nbytes, npackets = fs.scale_expr()
    frame = fs.conform(frame.with_columns(nbytes, npackets))
    return fs.conform(orient_frame(frame))
