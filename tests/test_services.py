from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlab import services
from flowlab.exceptions import ConfigError


def _frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "src_ip": pl.String,
            "dst_ip": pl.String,
            "src_port": pl.UInt16,
            "dst_port": pl.UInt16,
            "protocol": pl.UInt8,
            "tcp_flags": pl.UInt16,
        },
        orient="row",
    )


@pytest.mark.parametrize(
    ("row", "server", "port", "name"),
    [
        # rule 1: pure SYN -> destination is the server, even towards a high unknown port
        (("a", "b", 2379, 47123, 6, 2), "b", 47123, "TCP/47123"),
        # SYN-ACK (18) is not rule 1: known port 2379 wins
        (("a", "b", 2379, 45000, 6, 18), "a", 2379, "etcd-client"),
        # rule 3: only dst known
        (("a", "b", 51000, 6443, 6, 24), "b", 6443, "kubernetes-api"),
        # rule 4: only src known
        (("a", "b", 2380, 51000, 6, 16), "a", 2380, "etcd-server"),
        # rule 2: both unknown -> lower port, ties to dst
        (("a", "b", 10250, 50999, 6, 16), "a", 10250, "TCP/10250"),
        (("a", "b", 50999, 50999, 6, 16), "b", 50999, "TCP/50999"),
        # rule 5: both known -> lower
        (("a", "b", 443, 2379, 6, 16), "a", 443, "https"),
        # UDP uses the UDP table: 53 dns
        (("a", "b", 40000, 53, 17, None), "b", 53, "dns"),
        # ephemeral port that IANA lists (33060 mysqlx) beats an unknown server port (ElastiFlow quirk)
        (("a", "b", 33060, 10250, 6, 16), "a", 33060, "mysqlx"),
    ],
)
def test_orientation_rules(row: tuple, server: str, port: int, name: str) -> None:
    out = services.orient_frame(_frame([row]))
    assert out["server_ip"][0] == server
    assert out["client_ip"][0] == ("b" if server == "a" else "a")
    assert out["service_port"][0] == port
    assert out["service_name"][0] == name


def test_no_ports_no_orientation() -> None:
    out = services.orient_frame(_frame([("a", "b", None, None, 1, None)]))
    assert out.select("client_ip", "server_ip", "service_port", "service_name").row(0) == (
        None,
        None,
        None,
        None,
    )


def test_cloud_native_overrides() -> None:
    assert services.service_name(2379) == "etcd-client"
    assert services.service_name(2380) == "etcd-server"
    assert services.service_name(6443) == "kubernetes-api"
    assert services.service_name(3000) == "grafana"
    assert services.service_name(6443, "udp") == "sun-sr-https"
    assert len(services.default_table()) > 10000


def test_user_table_and_register(tmp_path: Path) -> None:
    t = services.ServiceTable({("tcp", 10250): "kubelet"})
    out = services.orient_frame(_frame([("a", "b", 51000, 10250, 6, 16)]), table=t)
    assert out["service_name"][0] == "kubelet"
    csv = tmp_path / "mine.csv"
    csv.write_text("protocol,port,name\ntcp,9537,crio\n")
    assert services.ServiceTable.from_csv(csv).name(6, 9537) == "crio"
    with pytest.raises(ConfigError):
        services.ServiceTable({("tcp", 70000): "x"})
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="protocol"):
        services.ServiceTable.from_csv(bad)


def test_protocol_names() -> None:
    assert services.protocol_name(6) == "TCP"
    assert services.protocol_name(58) == "IPv6-ICMP"
    assert services.protocol_name(250) == "UNKNOWN(250)"
    assert services.protocol_number("tcp") == 6
    assert services.protocol_number("UNKNOWN(250)") == 250
    with pytest.raises(ConfigError):
        services.protocol_number("nope")


def test_csv_table_protocols_ports_and_lookup(tmp_path: Path) -> None:
    """The vectorised CSV reader and lookup tables: names or numbers, range checks, fallbacks."""
    csv = tmp_path / "mixed.csv"
    csv.write_text("protocol,port,name\nTCP,9537,crio\n17,53,dns\nsctp,38412,ngap\nicmp,0,echo\n")
    t = services.ServiceTable.from_csv(csv)
    assert (t.name(6, 9537), t.name(17, 53), t.name(132, 38412), t.name(1, 0)) == (
        "crio", "dns", "ngap", "echo",
    )  # fmt: skip
    assert t.name(6, 53) is None and not t.known(17, 9537)
    assert t.name(6, 9537 + 65536) is None and not t.known(6, 70000)  # never another protocol's
    slots, names, known = t.lookup()
    assert names.len() == known.len() == 4 * 65536
    assert names[slots[6] * 65536 + 9537] == "crio" and names[slots[6] * 65536 + 9538] == "TCP/9538"
    assert known.sum() == 4
    out = services.orient_frame(_frame([("a", "b", 51000, 38412, 132, 0)]), table=t)
    assert out["service_name"][0] == "ngap"
    bad = tmp_path / "range.csv"
    bad.write_text("protocol,port,name\ntcp,80,http\nudp,65536,nope\n")
    with pytest.raises(ConfigError, match="65536"):
        services.ServiceTable.from_csv(bad)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([6, 17, 132, 33, 1, 58, 136, 250]),
            st.sampled_from([22, 53, 80, 443, 2379, 6443, 10250]) | st.integers(0, 65535),
            st.sampled_from([22, 53, 80, 443, 2379, 6443, 10250]) | st.integers(0, 65535),
            st.sampled_from([2, 16, 18, 24]) | st.none(),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_server_is_dst_is_orients_rule(rows: list[tuple[int, int, int, int | None]]) -> None:
    """The numpy form (the sFlow decoder's) and the Polars form choose the same server."""
    frame = _frame([("s", "d", sp, dp, p, fl) for p, sp, dp, fl in rows])
    want = services.orient_frame(frame)["server_ip"].to_list()
    proto, sport, dport = (np.array([r[i] for r in rows]) for i in range(3))
    to_dst = services.server_is_dst(
        proto.astype(np.uint8), sport.astype(np.uint16), dport.astype(np.uint16),
        np.array([r[3] == 2 for r in rows]),
    )  # fmt: skip
    assert ["d" if d else "s" for d in to_dst.tolist()] == want
    names = services.default_table().names_of(
        ((proto << 16) | np.where(to_dst, dport, sport)).tolist()
    )
    assert names == services.orient_frame(frame)["service_name"].to_list()


def _by_csv_module(path: Path) -> services.ServiceTable:
    """The table as the csv-module path reads it (the reference for the packed reading)."""
    texts, ports, names = services._table_columns(path.read_text(encoding="utf-8"), path)
    table = services.ServiceTable()
    table._names = {(services._proto(t) << 16) | p: n for t, p, n in zip(texts, ports, names)}
    return table


PLAIN_TABLES = [
    "protocol,port,name\ntcp,80,http\ntcp,80,www\nudp,53,dns\r\n\n6,9,discard\nSCTP,38412,ngap\n",
    "protocol,port,name\r\ntcp,0,zero\r\nudp,65535,last",
    "protocol, port ,name\ndccp,1,x\ntcp,443,\n",
]


@pytest.mark.parametrize("text", PLAIN_TABLES)
def test_a_plain_table_is_read_packed_and_equals_the_csv_reading(tmp_path: Path, text: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode())
    packed = services.ServiceTable.from_csv(path)
    assert packed._packed is not None  # the fast path ran
    want = _by_csv_module(path)
    keys = [*sorted(want._names), 6 << 16 | 8080, 17 << 16 | 9]
    assert packed.names_of(keys) == want.names_of(keys)
    for got_array, want_array in zip(packed.ports(), want.ports()):
        assert np.array_equal(got_array, want_array)
    assert packed._names == want._names and packed._packed is None  # made the dict on demand


def test_the_package_table_is_read_packed_and_equals_the_csv_reading() -> None:
    path = Path(services.__file__).parent / "data" / "services.csv"
    packed, want = services.ServiceTable.from_csv(path), _by_csv_module(path)
    assert packed._packed is not None and len(packed._packed.distinct) > 10_000
    keys = sorted(want._names)
    assert packed.names_of(keys) == want.names_of(keys)
    assert all(np.array_equal(a, b) for a, b in zip(packed.ports(), want.ports()))
    assert packed._names == want._names


@pytest.mark.parametrize(
    "text",
    [
        'protocol,port,name\ntcp,80,"http, alt"\n',  # quotes: the csv module
        "port,protocol,name\n80,tcp,http\n",  # another column order
        "protocol,port,name\ntcp,80,a,b\n",  # four cells
        "protocol,port,name\ntcp,8o,http\n",  # not digits
        "protocol,port,name\n",  # no rows
    ],
)
def test_other_layouts_go_through_the_csv_module(tmp_path: Path, text: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode())
    assert services._packed(text.encode()) is None
    if "8o" in text:
        with pytest.raises(ConfigError):
            services.ServiceTable.from_csv(path)
    else:
        assert services.ServiceTable.from_csv(path)._names == _by_csv_module(path)._names


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("protocol,port,name\ntcp,99999,big\n", "out of range"),
        ("protocol,port,name\nbogus,1,x\n", "unknown IP protocol"),
        (b"protocol,port,name\ntcp,1,\xff\n", "cannot read service table"),
    ],
)
def test_bad_tables_are_a_config_error(tmp_path: Path, text: str | bytes, message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError, match=message):
        services.ServiceTable.from_csv(path)


OTHER_LAYOUTS = [
    'protocol,port,name\ntcp,80,"http, alt"\n',
    "port,protocol,name\n80,tcp,http\n",
    "protocol,port,name\ntcp,80,a,b\n",
    "protocol,port,name\ntcp,8o,http\n",
    "protocol,port,name\ntcp,99999,big\n",
    "protocol,port,name\nverylongproto,1,x\n",
    "protocol,port,name\n",
    "",
]


@pytest.mark.parametrize("text", [*PLAIN_TABLES, *OTHER_LAYOUTS, "package"])
def test_the_compiled_table_reading_gives_the_pure_rows(text: str) -> None:
    from tests.cores import require_native, use_core

    require_native()
    if text == "package":
        data = (Path(services.__file__).parent / "data" / "services.csv").read_bytes()
    else:
        data = text.encode()
    with use_core("native"):
        got = services._packed(data)
    with use_core("pure"):
        want = services._packed(data)
    assert (got is None) == (want is None)
    if got is not None and want is not None:
        assert got.to_dict() == want.to_dict()
        assert np.array_equal(got.distinct, want.distinct)
