"""The one ElastiFlow 3.5 field table: the reading profile, the template and the writer agree with it."""

from __future__ import annotations

import json

import polars as pl
import pytest

import flowlab.schema as fs
from flowlab.elastic._documents import elastiflow_lines
from flowlab.elastic._fields import COLUMN_FIELDS, DIMENSION_FIELDS, ELASTIFLOW35, FIELDS
from flowlab.elastic._mappings import ELASTIFLOW_MAPPING, field_types
from flowlab.elastic.profiles import ELASTIFLOW3, all_fields
from flowlab.services import orient_frame
from flowlab.vocabulary import KEYS


def _flatten(doc: dict, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in doc.items():
        if isinstance(value, dict):
            out |= _flatten(value, f"{prefix}{key}.")
        else:
            out.add(f"{prefix}{key}")
    return out


def test_the_table_has_one_row_per_field_and_known_words() -> None:
    assert len(FIELDS) == len(ELASTIFLOW35)
    for f in ELASTIFLOW35:
        assert not f.column or f.column in fs.FLOW_SCHEMA or f.column == "_ecn", f
        assert not f.dimension or f.dimension in KEYS, f


def test_template_and_profile_are_derived_from_the_table() -> None:
    mapped = field_types(ELASTIFLOW_MAPPING)
    assert mapped == {f.name: f.es_type for f in ELASTIFLOW35 if f.es_type}
    read = {s.field for srcs in ELASTIFLOW3.columns.values() for s in srcs}
    assert read == {f.name for f in ELASTIFLOW35 if f.column}
    assert dict(ELASTIFLOW3.dimensions) == {
        f.dimension: f.name for f in ELASTIFLOW35 if f.dimension
    }
    assert set(ELASTIFLOW3.required) | set(ELASTIFLOW3.metrics.values()) <= set(FIELDS)
    # every field elastiflow3 reads or groups by is in the table (all_fields spans all profiles)
    assert {n for n in all_fields() if n in read or n in ELASTIFLOW3.dimensions.values()} <= set(
        FIELDS
    )


def _frame() -> pl.DataFrame:
    """Two oriented flows, TCP and UDP, with every column the ElastiFlow writer reads."""
    frame = pl.DataFrame(
        {
            "time": [1625140803512, 1625140803513],
            "exporter": ["10.0.0.5", "10.0.0.5"],
            "src_ip": ["10.128.0.5", "10.128.0.6"],
            "dst_ip": ["10.130.0.9", "8.8.8.8"],
            "src_port": [51000, 40000],
            "dst_port": [2379, 53],
            "protocol": [6, 17],
            "tcp_flags": [24, 0],
            "sampling_rate": [1000, 400],
            "frame_length": [1514, 90],
            "ip_version": [4, 4],
            "tos": [0xB9, 0],
            "ttl": [64, 63],
            "vlan": [100, None],
            "src_mac": ["02:00:00:00:00:01", None],
            "dst_mac": ["02:00:00:00:00:02", None],
            "source_id": [3, 4],
            "sub_agent_id": [0, 0],
            "sample_sequence": [7, 8],
            "ethertype": [0x0800, 0x0800],
            "in_if": [3, 4],
            "out_if": [0x3FFFFFFF, 2],
        }
    ).with_columns(pl.from_epoch("time", "ms").dt.replace_time_zone("UTC"))
    b, p = fs.scale_expr()
    return fs.conform(orient_frame(fs.conform(frame.with_columns(b, p))))


def _written(frame: pl.DataFrame) -> set[str]:
    lines, _ = elastiflow_lines(frame)
    return set().union(*(_flatten(json.loads(line)) for line in lines))


def test_the_writer_writes_only_table_fields() -> None:
    written = _written(_frame())
    assert written - set(FIELDS) == set()
    assert {"flow.src_addr", "flow.service_name", "sflow.ip_ttl"} <= written


def test_the_writer_writes_each_column_where_the_profile_reads_it_first() -> None:
    written = _written(_frame())
    for column, field in COLUMN_FIELDS.items():
        assert ELASTIFLOW3.sources(column)[0].field == field
    assert ELASTIFLOW3.time_field == COLUMN_FIELDS["time"]
    assert dict(ELASTIFLOW3.metrics) == {m: COLUMN_FIELDS[m] for m in ("bytes", "packets")}
    not_written = {"flow_format", "flow_start", "flow_end", "observation_domain"}  # NetFlow/IPFIX
    assert {f for c, f in COLUMN_FIELDS.items() if c not in not_written} <= written
    assert set(DIMENSION_FIELDS.values()) <= written


def test_a_field_renamed_in_the_table_is_written_under_its_new_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(COLUMN_FIELDS, "ttl", "sflow.ttl_renamed")
    monkeypatch.setitem(DIMENSION_FIELDS, "server", "flow.server_renamed")
    written = _written(_frame())
    assert {"sflow.ttl_renamed", "flow.server_renamed"} <= written
    assert not {"sflow.ip_ttl", "flow.server_addr"} & written


def test_schema_docs_name_table_fields() -> None:
    named = {c.elastiflow.split()[0] for c in fs.FLOW_COLUMNS if c.elastiflow}
    assert named and named <= set(FIELDS), named - set(FIELDS)
