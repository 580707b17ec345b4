from __future__ import annotations

import polars as pl
import pytest

import flowlab
from flowlab import schema
from flowlab.exceptions import SchemaError


def test_empty_frames_validate() -> None:
    schema.validate(schema.empty())
    schema.validate_counters(schema.empty_counters())


def test_required_columns_present() -> None:
    required = [
        "time",
        "exporter",
        "src_ip",
        "dst_ip",
        "src_port",
        "dst_port",
        "protocol",
        "bytes",
        "packets",
        "sampling_rate",
        "frame_length",
        "in_if",
        "out_if",
        "vlan",
        "src_mac",
        "dst_mac",
        "ip_version",
        "tcp_flags",
        "source",
        "client_ip",
        "server_ip",
        "service_port",
        "service_name",
    ]
    for name in required:
        assert name in schema.FLOW_SCHEMA
    assert schema.FLOW_SCHEMA["time"] == pl.Datetime("ms", "UTC")


def test_validate_names_every_problem() -> None:
    bad = (
        schema.empty()
        .drop("bytes")
        .with_columns(pl.col("src_port").cast(pl.Int64), pl.lit(1).alias("zzz"))
    )
    with pytest.raises(SchemaError) as err:
        schema.validate(bad)
    text = str(err.value)
    assert "bytes" in text and "zzz" in text and "src_port" in text and "Int64" in text


def test_validate_rejects_wrong_order() -> None:
    f = schema.empty()
    with pytest.raises(SchemaError, match="order"):
        schema.validate(f.select(list(reversed(f.columns))))


def test_conform_casts_and_fills() -> None:
    f = schema.conform(pl.DataFrame({"dst_port": [2379], "bytes": [10]}))
    schema.validate(f)
    assert f["dst_port"].to_list() == [2379]
    assert f["src_ip"].to_list() == [None]


def test_conform_rejects_overflow_and_unknown() -> None:
    with pytest.raises(SchemaError):
        schema.conform(pl.DataFrame({"dst_port": [70000]}))
    with pytest.raises(SchemaError, match="nope"):
        schema.conform(pl.DataFrame({"nope": [1]}))


def test_scale_expr() -> None:
    b, p = schema.scale_expr()
    out = pl.DataFrame({"frame_length": [1514, 60], "sampling_rate": [400, 1]}).select(b, p)
    assert out["bytes"].to_list() == [605600, 60]
    assert out["packets"].to_list() == [400, 1]


def test_public_api_matches_all() -> None:
    public = {n for n in dir(flowlab) if not n.startswith("_")} - {"annotations"}
    assert set(flowlab.__all__) - {"__version__"} <= public
    # every public module-level name is listed (submodules imported for side effects excepted)
    unlisted = {
        n
        for n in public - set(flowlab.__all__)
        if not isinstance(getattr(flowlab, n), type(flowlab))
    }
    assert not unlisted, unlisted


def test_docs_schema_is_current() -> None:
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "schema.md"
    assert doc.read_text() == schema.markdown(), "regenerate docs/schema.md (see its first line)"
