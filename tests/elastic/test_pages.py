"""Raw pages -> flat columns -> canonical frame, without a server: the column-wise and the Python paths agree."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import flowlab.schema as fs
from flowlab.elastic._convert import to_canonical
from flowlab.elastic._pages import flat_from_hits, parse_page
from flowlab.elastic.profiles import PROFILES

EF = PROFILES["elastiflow3"]


def _response(sources: list[dict[str, Any]], **meta: Any) -> bytes:
    """A search response as Elasticsearch serializes it (compact JSON, filter_path applied)."""
    hits = [{"_source": s, "sort": [i]} for i, s in enumerate(sources)]
    return json.dumps({**meta, "hits": {"hits": hits}}, separators=(",", ":")).encode()


def _both_paths(raw: bytes, profile=EF) -> tuple[pl.DataFrame, pl.DataFrame, bool]:
    page = parse_page(raw, multi=profile.multi_fields, fields=profile.fields())
    fast = to_canonical(page.frame, profile)
    hits = json.loads(raw)["hits"]["hits"]
    slow_flat = flat_from_hits(hits, fields=profile.fields(), multi=profile.multi_fields)
    slow = to_canonical(slow_flat, profile)
    return fast, slow, page.python_fallback


def test_fixture_documents_agree_on_both_paths(make_flows, fixture_docs):
    frame = make_flows(400, seed=51)
    raw = _response([fixture_docs.elastiflow35(r) for r in frame.to_dicts()], pit_id="abc==")
    page = parse_page(raw, multi=EF.multi_fields)
    assert page.meta == {"pit_id": "abc=="}
    assert page.last_sort == [399]
    assert not page.python_fallback  # "none" and lists mixed, still parsed column-wise
    fast, slow, _ = _both_paths(raw)
    assert_frame_equal(fast, slow)
    want = fixture_docs.expected(frame, fixture_docs.ELASTIFLOW35_COLUMNS, "sflow")
    assert_frame_equal(fast, want)


def test_nested_dotted_and_mixed_keys_are_the_same_field():
    docs = [
        {"@timestamp": "2021-07-01T00:00:00Z", "flow": {"src_addr": "10.0.0.1", "bytes": 10}},
        {"@timestamp": "2021-07-01T00:00:01Z", "flow.src_addr": "10.0.0.2", "flow.bytes": "20"},
        {"@timestamp": 1625097602000, "flow": {"src_addr": "10.0.0.3"}, "flow.bytes": 30},
    ]
    page = parse_page(_response(docs))
    assert page.frame["flow.src_addr"].to_list() == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    out = to_canonical(page.frame, EF, columns=["time", "src_ip", "bytes"])
    assert out["bytes"].to_list() == [10, 20, 30]
    assert out["time"].dt.epoch("ms").to_list() == [1625097600000, 1625097601000, 1625097602000]


def test_untypable_page_falls_back_to_python_and_says_so():
    docs = [
        {"@timestamp": "2021-07-01T00:00:00Z", "flow": {"src_addr": "10.0.0.1", "dst_port": 443}},
        {"@timestamp": "2021-07-01T00:00:01Z", "flow": {"src_addr": {"oops": 1}, "dst_port": [80]}},
    ]
    page = parse_page(_response(docs), fields=["@timestamp", "flow.src_addr", "flow.dst_port"])
    assert page.python_fallback
    assert page.last_sort == [1]
    out = to_canonical(page.frame, EF, columns=["src_ip", "dst_port"])
    assert out.rows() == [("10.0.0.1", 443), ('{"oops":1}', 80)]


def test_empty_and_edge_pages():
    empty = parse_page(b'{"pit_id":"p","hits":{"hits":[]}}')
    assert empty.frame.height == 0 and empty.last_sort is None and empty.meta == {"pit_id": "p"}
    none = parse_page(b'{"_scroll_id":"s"}')
    assert none.meta == {"_scroll_id": "s"}
    out = to_canonical(empty.frame, EF)
    assert out.height == 0
    fs.validate(out)
    ecn_only = parse_page(_response([{"flow": {"tos": "46"}, "sflow": {"ip_ecn": "1"}}]))
    assert to_canonical(ecn_only.frame, EF, columns=["tos"]).item() == 46 * 4 + 1


port_value = st.one_of(
    st.none(),
    st.integers(0, 65535),
    st.integers(0, 65535).map(str),
    st.sampled_from(["", "abc", "-1", "65536", "1e3"]),
)
flags_value = st.one_of(
    st.none(),
    st.just("none"),
    st.lists(
        st.sampled_from(["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"]),
        max_size=4,
        unique=True,
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "src": port_value,
                "dst": port_value,
                "flags": flags_value,
                "proto": st.sampled_from(["TCP", "UDP", "ICMP", "6", "UNKNOWN(99)", "junk"]),
                "dotted": st.booleans(),
            }
        ),
        min_size=1,
        max_size=25,
    )
)
def test_property_polars_path_equals_python_path(rows):
    docs = []
    for i, r in enumerate(rows):
        flow = {"src_addr": f"10.0.0.{i % 250}", "dst_addr": "10.0.1.1", "ip_protocol": r["proto"]}
        for key, value in (
            ("src_port", r["src"]),
            ("dst_port", r["dst"]),
            ("tcp_flags", r["flags"]),
        ):
            if value is not None:
                flow[key] = value
        doc: dict[str, Any] = {"@timestamp": 1625097600000 + i}
        if r["dotted"]:
            doc.update({f"flow.{k}": v for k, v in flow.items()})
        else:
            doc["flow"] = flow
        docs.append(doc)
    fast, slow, _ = _both_paths(_response(docs))
    assert_frame_equal(fast, slow)
