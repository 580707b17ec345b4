"""The one ElastiFlow 3.5 field table: the reading profile, the template and the writer agree with it."""

from __future__ import annotations

import json

import polars as pl

import flowlab.schema as fs
from flowlab.elastic._documents import elastiflow_lines
from flowlab.elastic._fields import ELASTIFLOW35, FIELDS
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


def test_the_writer_writes_only_table_fields() -> None:
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
            "in_if": [3, 4],
            "out_if": [0x3FFFFFFF, 2],
        }
    ).with_columns(pl.from_epoch("time", "ms").dt.replace_time_zone("UTC"))
    b, p = fs.scale_expr()
    frame = fs.conform(orient_frame(fs.conform(frame.with_columns(b, p))))
    lines, _ = elastiflow_lines(frame)
    written = set().union(*(_flatten(json.loads(line)) for line in lines))
    assert written - set(FIELDS) == set()
    assert {"flow.src_addr", "flow.service_name", "sflow.ip_ttl"} <= written


def test_schema_docs_name_table_fields() -> None:
    named = {c.elastiflow.split()[0] for c in fs.FLOW_COLUMNS if c.elastiflow}
    assert named and named <= set(FIELDS), named - set(FIELDS)
