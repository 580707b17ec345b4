"""Service names and client/server orientation (ElastiFlow 3.x rules).

The port -> name table is package data (``flowlab/data/services.csv``): the
IANA service-name registry plus the overrides ElastiFlow applies (TCP 2379
``etcd-client``, 2380 ``etcd-server``, 6443 ``kubernetes-api``, 3000
``grafana``, 53 ``dns``, ...). Extend it without editing the package with
:func:`register` or the ``FLOWLAB_SERVICES`` environment variable (a CSV file
with ``protocol,port,name`` columns).

Orientation, decided per row exactly as ElastiFlow 3.x does it, and only when
both ports are present:

1. only SYN set (``tcp_flags == 2``) -> the destination is the server;
2. exactly one port is a known service port for the protocol -> that side;
3. otherwise the lower port is the server (ties -> destination).

Examples
--------
>>> import polars as pl
>>> from flowlab.services import orient_frame, service_name
>>> service_name(2379), service_name(10250)
('etcd-client', 'TCP/10250')
>>> f = pl.DataFrame({"src_ip": ["10.0.0.5"], "dst_ip": ["10.0.0.9"], "src_port": [2379],
...                   "dst_port": [51000], "protocol": [6], "tcp_flags": [24]})
>>> orient_frame(f).select("client_ip", "server_ip", "service_port", "service_name").row(0)
('10.0.0.9', '10.0.0.5', 2379, 'etcd-client')
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt
import polars as pl

from flowlab._accel import native
from flowlab.exceptions import ConfigError

__all__ = [
    "PROTOCOL_NAMES",
    "ServiceTable",
    "cluster_port_table",
    "default_table",
    "orient",
    "orient_frame",
    "protocol_name",
    "protocol_number",
    "register",
    "server_is_dst",
    "service_name",
]

#: IANA protocol keywords for the protocols a flow analyst meets; others print as ``UNKNOWN(n)``.
PROTOCOL_NAMES: dict[int, str] = {
    0: "HOPOPT",
    1: "ICMP",
    2: "IGMP",
    4: "IPv4",
    6: "TCP",
    8: "EGP",
    9: "IGP",
    17: "UDP",
    27: "RDP",
    33: "DCCP",
    41: "IPv6",
    43: "IPv6-Route",
    44: "IPv6-Frag",
    46: "RSVP",
    47: "GRE",
    50: "ESP",
    51: "AH",
    58: "IPv6-ICMP",
    59: "IPv6-NoNxt",
    60: "IPv6-Opts",
    88: "EIGRP",
    89: "OSPFIGP",
    94: "IPIP",
    103: "PIM",
    112: "VRRP",
    115: "L2TP",
    132: "SCTP",
    136: "UDPLite",
    137: "MPLS-in-IP",
}
_PROTO_BY_NAME = {v.upper(): k for k, v in PROTOCOL_NAMES.items()}
# label of every protocol number (0..255) as used in fallback service names: 'TCP', 'UNKNOWN(253)'
_PROTOCOL_LABELS = pl.Series(
    "protocol_label", [PROTOCOL_NAMES.get(i, f"UNKNOWN({i})") for i in range(256)], dtype=pl.String
)
_PROTO_BY_NAME.update({"ICMPV6": 58, "IPV6-ICMP": 58})
_TRANSPORTS = {"tcp": 6, "udp": 17, "sctp": 132, "dccp": 33}


def protocol_name(number: int | None) -> str | None:
    """IANA keyword of an IP protocol number (``6`` -> ``'TCP'``; unknown -> ``'UNKNOWN(n)'``)."""
    if number is None:
        return None
    return PROTOCOL_NAMES.get(int(number), f"UNKNOWN({int(number)})")


def protocol_number(name: str | int) -> int:
    """Protocol number from an IANA keyword or number (``'TCP'``, ``'tcp'``, ``'6'`` -> ``6``).

    Raises
    ------
    ConfigError
        For a name that is not a known protocol keyword.
    """
    if isinstance(name, int):
        return name
    text = name.strip()
    if text.isdigit():
        return int(text)
    if text.upper().startswith("UNKNOWN(") and text.endswith(")"):
        return int(text[8:-1])
    try:
        return _PROTO_BY_NAME[text.upper()]
    except KeyError:
        msg = f"unknown IP protocol {name!r}; use a number or one of {sorted(PROTOCOL_NAMES.values())}"
        raise ConfigError(msg) from None


def _proto(proto: int | str) -> int:
    if isinstance(proto, str):
        return _TRANSPORTS.get(proto.lower()) or protocol_number(proto)
    return int(proto)


class ServiceTable:
    """A (protocol number, port) -> service name table.

    Parameters
    ----------
    entries : mapping of (protocol, port) to name
        Protocol as number (6) or name ('tcp').

    Examples
    --------
    >>> t = ServiceTable({("tcp", 9090): "prometheus"})
    >>> t.name(6, 9090), t.known(6, 9091)
    ('prometheus', False)
    """

    def __init__(self, entries: Mapping[tuple[int | str, int], str] | None = None) -> None:
        # keyed by protocol << 16 | port: ints, not tuples, so that 11k entries allocate no objects
        # the garbage collector tracks (a first call would otherwise pay a full collection)
        self._dict: dict[int, str] = {}
        self._packed: _Packed | None = None  # the package table as read, until a dict is needed
        self._frame: pl.DataFrame | None = None
        self._lookup: tuple[pl.Series, pl.Series, pl.Series] | None = None
        self._ports: tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]] | None = None
        if entries:
            self.update(entries)

    @property
    def _names(self) -> dict[int, str]:
        """The entries, keyed by ``protocol << 16 | port`` (made from the packed table on first use)."""
        if self._packed is not None:
            self._dict, self._packed = self._packed.to_dict(), None
        return self._dict

    @_names.setter
    def _names(self, names: dict[int, str]) -> None:
        self._dict, self._packed = names, None

    def update(self, entries: Mapping[tuple[int | str, int], str]) -> None:
        """Add or replace entries (later wins)."""
        for (proto, port), name in entries.items():
            p = _proto(proto)
            if not 0 <= int(port) <= 65535:
                msg = f"port {port} out of range 0..65535 for service {name!r}"
                raise ConfigError(msg)
            self._names[(int(p) << 16) | int(port)] = str(name)
        self._frame = None
        self._lookup = None
        self._ports = None

    def remove(self, protocol: int | str, port: int) -> None:
        """Forget an entry (no error if absent)."""
        self._names.pop((_proto(protocol) << 16) | int(port), None)
        self._frame = None
        self._lookup = None
        self._ports = None

    def name(self, protocol: int, port: int) -> str | None:
        """The registered name, or None."""
        return self._names.get((protocol << 16) | port) if 0 <= port <= 65535 else None

    def known(self, protocol: int, port: int) -> bool:
        """Whether `port` is a registered service port for `protocol`."""
        return 0 <= port <= 65535 and (protocol << 16) | port in self._names

    def __len__(self) -> int:
        return len(self._names)

    def copy(self) -> ServiceTable:
        """An independent copy."""
        table = ServiceTable()
        table._names = dict(self._names)
        return table

    def frame(self) -> pl.DataFrame:
        """The table as a frame with ``key`` (protocol << 16 | port, UInt32) and ``name``."""
        if self._frame is None:
            keys = list(self._names)
            self._frame = pl.DataFrame(
                {"key": keys, "name": list(self._names.values())},
                schema={"key": pl.UInt32, "name": pl.String},
            )
        return self._frame

    def ports(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Direct-mapped registered ports (built once, rebuilt after changes).

        Returns ``slot`` (256 entries: protocol number -> slot, -1 for a
        protocol without entries) and ``known`` (``slot * 65536 + port`` ->
        whether the port is registered).

        Examples
        --------
        >>> slot, known = ServiceTable({("udp", 53): "dns"}).ports()
        >>> int(slot[17]), int(slot[6]), bool(known[53]), bool(known[54])
        (0, -1, True, False)
        """
        if self._ports is None:
            if self._packed is not None:
                keys = self._packed.distinct
            else:
                keys = np.fromiter(self._names, dtype=np.int64, count=len(self._names))
            keys = keys[keys < (256 << 16)]
            # bincount, not np.unique: that imports numpy.ma (10 ms) on a first read_pcap
            protos = np.flatnonzero(np.bincount(keys >> 16, minlength=256))
            slot = np.full(256, -1, dtype=np.int64)
            slot[protos] = np.arange(protos.size)
            known = np.zeros(protos.size * 65536, dtype=bool)
            known[slot[keys >> 16] * 65536 + (keys & 0xFFFF)] = True
            self._ports = (slot, known)
        return self._ports

    def names_of(self, keys: Iterable[int]) -> list[str]:
        """Service name of each ``protocol << 16 | port`` key, as :func:`service_name` gives it.

        Examples
        --------
        >>> ServiceTable({("tcp", 2379): "etcd-client"}).names_of([6 << 16 | 2379, 17 << 16 | 9])
        ['etcd-client', 'UDP/9']
        """
        keys = list(keys)
        got = self._packed.names(keys) if self._packed is not None else map(self._names.get, keys)
        return [name or f"{protocol_name(k >> 16)}/{k & 0xFFFF}" for k, name in zip(keys, got)]

    def lookup(self) -> tuple[pl.Series, pl.Series, pl.Series]:
        """Direct-mapped tables for :func:`orient` (built once, rebuilt after changes).

        Returns ``slots`` (256 entries: protocol number -> slot, null for a
        protocol without entries), ``names`` (``slot * 65536 + port`` -> the
        registered name, else ``'TCP/10250'``-style text) and ``known``
        (same index -> whether the port is registered).
        """
        if self._lookup is None:
            slot, known = self.ports()
            protos = np.flatnonzero(slot >= 0).tolist()
            # vectorised: 65536 default names per protocol, then the registered ones scattered in
            ports = pl.int_range(0, 65536, dtype=pl.UInt32, eager=True).cast(pl.String)
            names = pl.concat(
                [f"{PROTOCOL_NAMES.get(p, f'UNKNOWN({p})')}/" + ports for p in protos]
                or [pl.Series(dtype=pl.String)]
            )
            at = np.flatnonzero(known)
            if at.size:
                keys = (np.asarray(protos, dtype=np.int64)[at >> 16] << 16) | (at & 0xFFFF)
                names = names.scatter(at, [self._names[k] for k in keys.tolist()])
            self._lookup = (
                pl.Series(
                    "slot", [int(x) if x >= 0 else None for x in slot.tolist()], dtype=pl.UInt32
                ),
                names.alias("service_name"),
                pl.Series("known", known, dtype=pl.Boolean),
            )
        return self._lookup

    @classmethod
    def from_csv(cls, path: str | Path) -> ServiceTable:
        """Read a ``protocol,port,name`` CSV (protocol as name or number)."""
        try:
            with open(path, "rb") as f:
                data = f.read()
            text = data.decode("utf-8")
            packed = _packed(data)
            if packed is not None:  # the plain layout (the package table): names read when asked
                table = cls()
                table._packed = packed
                return table
            texts, ports, names = _table_columns(text, path)
        except (OSError, UnicodeDecodeError, csv.Error, IndexError, ValueError) as exc:
            msg = f"cannot read service table {path}: {exc}"
            raise ConfigError(msg) from exc
        if bad := [(port, name) for port, name in zip(ports, names) if not 0 <= port <= 65535]:
            msg = f"port {bad[0][0]} out of range 0..65535 for service {bad[0][1]!r}"
            raise ConfigError(msg)
        protocols = {text: _proto(text) for text in set(texts)}  # each distinct text parsed once
        table = cls()
        table._names = {
            (protocols[t] << 16) | port: name for t, port, name in zip(texts, ports, names)
        }
        return table


class _Packed:
    """A plain ``protocol,port,name`` table as read: its keys (``protocol << 16 | port``) as an
    array and where each name is in the bytes. A first ``read_pcap`` needs the keys and a few
    dozen names, not 11k strings in a dict (6 ms); :meth:`to_dict` makes the dict when asked."""

    def __init__(
        self,
        data: bytes,
        keys: npt.NDArray[np.int64],
        starts: npt.NDArray[np.int64],
        ends: npt.NDArray[np.int64],
    ) -> None:
        self._data, self._keys, self._starts, self._ends = data, keys, starts, ends
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        last = np.ones(ordered.size, dtype=bool)  # of equal keys the later row wins, as in a dict
        last[:-1] = ordered[1:] != ordered[:-1]
        self.distinct = ordered[last]
        self._row = order[last]

    def names(self, keys: list[int]) -> list[str | None]:
        """The name of each key, None where it has none."""
        want = np.asarray(keys, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.distinct, want), max(self.distinct.size - 1, 0))
        hit = (self.distinct[at] == want) if self.distinct.size else np.zeros(want.size, bool)
        rows = self._row[at].tolist()
        data, starts, ends = self._data, self._starts, self._ends
        return [
            data[starts[r] : ends[r]].decode() if h else None for r, h in zip(rows, hit.tolist())
        ]

    def to_dict(self) -> dict[int, str]:
        """Every entry (rows in file order: a repeated key keeps its last name)."""
        data = self._data
        names = [data[a:b].decode() for a, b in zip(self._starts.tolist(), self._ends.tolist())]
        return dict(zip(self._keys.tolist(), names))


_PLAIN_HEADER = b"protocol,port,name"


def _packed(data: bytes) -> _Packed | None:
    """The plain layout of a service table, read with array operations: a ``protocol,port,name``
    header, then three cells a line, no quotes, ports of 1-5 digits up to 65535, protocols of up
    to 8 characters. None for anything else: the csv module reads that (and names the problem)."""
    if not data or b'"' in data or b"\0" in data:
        return None
    core = native()
    rows = _rows(data) if core is None else _rows_compiled(core, data)
    if rows is None:
        return None
    code, ports, name_start, name_end = rows
    order = np.argsort(code, kind="stable")
    first = np.ones(order.size, dtype=bool)
    first[1:] = code[order][1:] != code[order][:-1]
    try:  # each distinct protocol's text: its bytes, back from the integer
        number = np.array(
            [
                _proto(x.to_bytes(8, "little").rstrip(b"\0").decode())
                for x in code[order][first].tolist()
            ],
            dtype=np.int64,
        )
    except (ConfigError, UnicodeDecodeError):
        return None
    group = np.empty(order.size, dtype=np.int64)
    group[order] = np.cumsum(first) - 1
    return _Packed(data, (number[group] << 16) | ports, name_start, name_end)


def _rows_compiled(core: ModuleType, data: bytes) -> tuple[np.ndarray, ...] | None:
    """:func:`_rows` by the compiled core (``native/services.c``): one pass, no temporaries."""
    room = data.count(b"\n") + 1
    code = np.empty(room, dtype=np.uint64)
    ports, name_start, name_end = (np.empty(room, dtype=np.int64) for _ in range(3))
    count = core.services_rows(data, code, ports, name_start, name_end)
    if count < 0:
        return None
    return code[:count], ports[:count], name_start[:count], name_end[:count]


def _rows(data: bytes) -> tuple[np.ndarray, ...] | None:
    """Each row's protocol bytes as one integer (byte k at bits 8k), port, and where its name
    starts and ends in `data`; None if `data` is not the plain layout."""
    b = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(b == 10)
    if not data.endswith(b"\n"):
        ends = np.append(ends, len(data))
    starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
    ends = ends.astype(np.int64)
    ends = ends - ((ends > starts) & (b[np.maximum(ends - 1, 0)] == 13))  # CRLF
    lines = np.flatnonzero(ends > starts)
    if (
        not lines.size
        or data[starts[lines[0]] : ends[lines[0]]].replace(b" ", b"") != _PLAIN_HEADER
    ):
        return None
    starts, ends = starts[lines[1:]], ends[lines[1:]]
    commas = np.flatnonzero(b == 44)
    commas = commas[commas >= (starts[0] if starts.size else len(data))]
    on = np.searchsorted(ends, commas)
    if commas.size != 2 * starts.size or not np.array_equal(
        on, np.repeat(np.arange(starts.size), 2)
    ):
        return None
    c1, c2 = commas[0::2], commas[1::2]
    width, pwidth = c2 - c1 - 1, c1 - starts
    if (
        not starts.size
        or width.min() < 1
        or width.max() > 5
        or pwidth.min() < 1
        or pwidth.max() > 8
    ):
        return None
    # each line's protocol and port as one little-endian 8-byte word each (byte k at bits 8k),
    # read through an unaligned view of the bytes (padded: the last line's word stays inside)
    padded = np.append(b, np.zeros(8, dtype=np.uint8))
    words = np.ndarray((b.size + 1,), "<u8", padded, strides=(1,))
    number = words[c1 + 1]
    ports = np.zeros(starts.size, dtype=np.int64)
    for k in range(5):  # the k-th digit from the left
        has = width > k
        digit = ((number >> np.uint64(8 * k)) & np.uint64(0xFF)).astype(np.int64) - 48
        if ((digit < 0) | (digit > 9))[has].any():
            return None
        ports = np.where(has, ports * 10 + digit, ports)
    if ports.max() > 65535:
        return None
    low = np.uint64(1) << (np.minimum(pwidth, 7) * 8).astype(np.uint64)  # up to 8 protocol bytes
    code = words[starts] & np.where(pwidth >= 8, ~np.uint64(0), low - np.uint64(1))
    return code, ports, c2 + 1, ends


def _table_columns(text: str, path: str | Path) -> tuple[list[str], list[int], list[str]]:
    """The protocol, port and name columns of a service-table CSV.

    Not Polars' CSV reader: the package table (11k rows) is part of a first
    ``read_pcap``, and Polars' reader costs 25 MB of buffers. A plain table
    (no quotes, three cells a line) is split by ``str`` methods at C speed;
    others go through the csv module. Column lists of strings and ints hold no
    row objects, so that loading one triggers no garbage-collection passes.
    """
    plain = '"' not in text
    lines = [line for line in text.splitlines() if line] if plain else []
    rows = [] if plain else [row for row in csv.reader(io.StringIO(text)) if row]
    first = lines[0].split(",") if lines else (rows[0] if rows else [])
    header = [h.strip() for h in first]
    missing = {"protocol", "port", "name"} - set(header)
    if missing:
        msg = f"service table {path} lacks columns {sorted(missing)}; expected protocol,port,name"
        raise ConfigError(msg)
    i, j, k = (header.index(c) for c in ("protocol", "port", "name"))
    if plain:
        body = lines[1:]
        if len(header) == 3 and all(line.count(",") == 2 for line in body):
            cells = ",".join(body).split(",") if body else []
            return cells[i::3], list(map(int, cells[j::3])), cells[k::3]
        rows = [row for row in csv.reader(body) if row]
        rows.insert(0, header)
    return [r[i] for r in rows[1:]], [int(r[j]) for r in rows[1:]], [r[k] for r in rows[1:]]


_DEFAULT: ServiceTable | None = None
_CLUSTER: ServiceTable | None = None


def cluster_port_table() -> ServiceTable:
    """Well-known Kubernetes/OpenShift server ports, named as their manifests name them.

    Package data ``flowlab/data/cluster_ports.csv`` (``protocol,port,name,source``):
    each row cites the upstream manifest its name comes from (checked against
    openshift/cluster-monitoring-operator f581865, openshift/cluster-etcd-operator
    b4786ae, prometheus-operator/kube-prometheus 4d719f1, and the DNS, ingress
    and kube-apiserver operators). :func:`flowlab.k8s.enrich` uses it for
    ``server_port_name`` when the inventory names no port; unlike
    :func:`service_name` (IANA names, as ElastiFlow writes them), it says
    ``prometheus-web`` for 9090, not ``hbase-thrift``.

    Examples
    --------
    >>> t = cluster_port_table()
    >>> t.name(6, 9100), t.name(6, 10250), t.name(17, 5353)
    ('node-exporter-https', 'kubelet-https-metrics', 'dns')
    """
    global _CLUSTER
    if _CLUSTER is None:
        with resources.as_file(resources.files("flowlab") / "data" / "cluster_ports.csv") as p:
            _CLUSTER = ServiceTable.from_csv(p)
    return _CLUSTER


def default_table() -> ServiceTable:
    """The process-wide table: package data, then ``FLOWLAB_SERVICES``, then :func:`register`."""
    global _DEFAULT
    if _DEFAULT is None:
        with resources.as_file(resources.files("flowlab") / "data" / "services.csv") as p:
            table = ServiceTable.from_csv(p)
        extra = os.environ.get("FLOWLAB_SERVICES")
        if extra:
            for path in extra.split(os.pathsep):
                table._names.update(ServiceTable.from_csv(path)._names)
        _DEFAULT = table
    return _DEFAULT


def register(entries: Mapping[tuple[int | str, int], str | None]) -> None:
    """Add your own service ports to the default table (a name of ``None`` removes one).

    Examples
    --------
    >>> register({("tcp", 10250): "kubelet"})
    >>> service_name(10250)
    'kubelet'
    >>> register({("tcp", 10250): None})
    >>> service_name(10250)
    'TCP/10250'
    """
    table = default_table()
    for (proto, port), name in entries.items():
        if name is None:
            table.remove(proto, port)
        else:
            table.update({(proto, port): name})


def service_name(port: int, protocol: int | str = 6, *, table: ServiceTable | None = None) -> str:
    """Service name of a server port: registered name, else ``'TCP/<port>'``."""
    t = table or default_table()
    p = protocol if isinstance(protocol, int) else protocol_number(protocol)
    return t.name(p, port) or f"{protocol_name(p)}/{port}"


def orient(
    lf: pl.LazyFrame, *, table: ServiceTable | None = None, text: bool = True
) -> pl.LazyFrame:
    """Add/replace client/server and service columns on a lazy flow frame.

    Needs ``src_ip, dst_ip, src_port, dst_port, protocol, tcp_flags``; writes
    ``client_ip, server_ip, client_port, service_port, service_name``. Rows
    without both ports get nulls, as in ElastiFlow. With ``text=False`` the
    address columns keep the dtype of ``src_ip``/``dst_ip`` instead of being
    cast to String: the sFlow decoder orients integer address codes (cheap to
    choose between) and turns them into text afterwards.
    """
    t = table or default_table()
    slots, names, known_ports = t.lookup()
    slot = pl.lit(slots).gather(pl.col("protocol").cast(pl.UInt8))

    def key(port: str) -> pl.Expr:
        # direct-mapped (protocol slot, port) key; null when the protocol has no entries
        return slot * 65536 + pl.col(port).cast(pl.UInt32)

    lf = lf.with_columns(
        pl.lit(known_ports).gather(key("src_port")).fill_null(False).alias("__ks"),
        pl.lit(known_ports).gather(key("dst_port")).fill_null(False).alias("__kd"),
    )
    known_s = pl.col("__ks")
    known_d = pl.col("__kd")
    lower_is_dst = pl.col("dst_port") <= pl.col("src_port")
    server_is_dst = (
        pl.when(pl.col("tcp_flags").fill_null(0) == 2)
        .then(True)
        .when(known_s == known_d)
        .then(lower_is_dst)
        .otherwise(known_d)
    )
    has_ports = pl.col("src_port").is_not_null() & pl.col("dst_port").is_not_null()

    def pick(dst: str, src: str) -> pl.Expr:
        return (
            pl.when(~has_ports)
            .then(None)
            .when(server_is_dst)
            .then(pl.col(dst))
            .otherwise(pl.col(src))
        )

    svc_port = pick("dst_port", "src_port").cast(pl.UInt16)
    label = pl.lit(_PROTOCOL_LABELS).gather(pl.col("protocol").cast(pl.UInt8))
    service_name = (
        pl.when(~has_ports)
        .then(None)
        .when(slot.is_null())  # ports on a protocol the table does not know (rare: formatted)
        .then(pl.format("{}/{}", label, svc_port))
        .otherwise(pl.lit(names).gather(slot * 65536 + svc_port.cast(pl.UInt32)))
    )
    server_ip, client_ip = pick("dst_ip", "src_ip"), pick("src_ip", "dst_ip")
    if text:
        server_ip, client_ip = server_ip.cast(pl.String), client_ip.cast(pl.String)
    return lf.with_columns(
        server_ip.alias("server_ip"),
        client_ip.alias("client_ip"),
        pick("src_port", "dst_port").cast(pl.UInt16).alias("client_port"),
        svc_port.alias("service_port"),
        service_name.alias("service_name"),
    ).drop("__ks", "__kd")


def server_is_dst(
    protocol: npt.NDArray[np.uint8],
    src_port: npt.NDArray[np.uint16],
    dst_port: npt.NDArray[np.uint16],
    syn: npt.NDArray[np.bool_],
    *,
    table: ServiceTable | None = None,
) -> npt.NDArray[np.bool_]:
    """:func:`orient`'s rule on numpy arrays: whether each row's destination is the server.

    `syn` says where ``tcp_flags == 2``. Only meaningful on rows with both
    ports (:func:`orient` leaves the others without client and server).

    Examples
    --------
    >>> import numpy as np
    >>> server_is_dst(np.array([6, 6, 17], dtype=np.uint8), np.array([2379, 40000, 900]),
    ...               np.array([51000, 41000, 800]), np.array([False, True, False])).tolist()
    [False, True, True]
    """
    slot_of, known = (table or default_table()).ports()
    slot = slot_of[protocol]
    has = slot >= 0
    base = np.where(has, slot, 0) * 65536
    known_s = has & known[base + src_port]
    known_d = has & known[base + dst_port]
    return syn | np.where(known_s == known_d, dst_port <= src_port, known_d)


def orient_frame(frame: pl.DataFrame, *, table: ServiceTable | None = None) -> pl.DataFrame:
    """Eager form of :func:`orient`."""
    return orient(frame.lazy(), table=table).collect()
