"""Deterministic document ``_id`` s, so that writing a flow twice stores it once.

:func:`document_ids` gives every row of a canonical frame the ``_id`` it is
written under. The same row always gets the same ``_id``, so a retried bulk
request, a frame written twice or a restarted collector finds the document
already there (``create`` answers 409) instead of adding a copy.

Three rules, in this order:

1. **sFlow identity.** A row with ``exporter``, ``sub_agent_id``,
   ``source_id``, ``sample_sequence`` and ``time`` (every row decoded from sFlow,
   live or from a capture, and every row loaded back from the ``flowlab``
   layout, which stores these fields) is one flow sample of one data source of
   one agent: ``_id = "<exporter>/<sub_agent_id>/<source_id>/<sample_sequence>/<time in epoch ms>"``
   (readable; ``time`` tells apart an agent restart that reuses sequence numbers).
2. **Flow record identity.** A NetFlow v5/v9 or IPFIX row (``flow_format``
   ``netflow5``, ``netflow9`` or ``ipfix``) with ``exporter``, ``sequence`` and
   ``time`` is one record of one export packet of one exporter and observation
   domain (source id, v5 engine): ``_id = "<flow_format>/<exporter>/<observation_domain>/<sequence>/<time in epoch ms>/<n>"``,
   ``n`` numbering the frame's rows of that same packet (0, 1, ...) in order: the
   record's index in its packet, since a packet's records are decoded together
   and stay together, in order, in the collector's batches and the capture's part
   files. (The header ``sequence`` alone is not enough: NetFlow v5 and v9 give one
   number to all records of a packet; ``time``, the receive time, tells apart an
   exporter restart.)
3. **Content.** Any other row (for example one loaded from an ElastiFlow index,
   whose documents do not store the sample sequence number) is identified by its
   values: ``_id = "c-" + BLAKE2b-128 hex of every canonical column``; the
   second, third... identical row of the same write gets ``-2``, ``-3``...
   appended, so identical rows are all kept, and writing the same frame again
   gives the same ``_id`` s.

Examples
--------
>>> import polars as pl, flowlab.schema as fs
>>> f = fs.conform(pl.DataFrame({"time": [1625140803512, 1625140803512],
...     "exporter": ["10.0.0.5", None], "sub_agent_id": [0, 0], "source_id": [3, 3],
...     "sample_sequence": [42, 42]}).with_columns(pl.from_epoch("time", "ms")
...     .dt.replace_time_zone("UTC")))
>>> ids = document_ids(f)
>>> ids[0]
'10.0.0.5/0/3/42/1625140803512'
>>> ids[1].startswith("c-"), len(ids[1])
(True, 34)
"""

from __future__ import annotations

import hashlib

import polars as pl

__all__ = ["IDENTITY", "RECORD_IDENTITY", "document_ids"]

#: The columns that identify an sFlow flow sample (rule 1).
IDENTITY = ("exporter", "sub_agent_id", "source_id", "sample_sequence", "time")
#: The columns that identify the export packet of a NetFlow/IPFIX flow record (rule 2).
RECORD_IDENTITY = ("flow_format", "exporter", "observation_domain", "sequence", "time")
_RECORD_FORMATS = ("netflow5", "netflow9", "ipfix")

_SEP = "\x1f"
_NULL = "\x00"


def document_ids(frame: pl.DataFrame) -> list[str]:
    """The ``_id`` of every row of a canonical frame, in row order (see the module rules)."""
    if frame.height == 0:
        return []
    parts = [
        pl.col(c).dt.epoch("ms").cast(pl.String) if c == "time" else pl.col(c).cast(pl.String)
        for c in IDENTITY
    ]
    ids = frame.select(pl.concat_str(parts, separator="/")).to_series()
    if "flow_format" in frame.columns and ids.is_null().any():
        ids = ids.fill_null(_record_ids(frame))
    missing = ids.is_null()
    if not missing.any():
        return ids.to_list()
    content = [
        (pl.col(c).dt.epoch("ms") if c == "time" else pl.col(c)).cast(pl.String).fill_null(_NULL)
        for c in frame.columns
    ]
    others = (
        frame.filter(missing)
        .select(pl.concat_str(content, separator=_SEP).alias("key"))
        .with_columns(pl.int_range(pl.len()).over("key").alias("nth"))
    )
    made = []
    for key, nth in others.iter_rows():
        digest = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        made.append(f"c-{digest}" if not nth else f"c-{digest}-{nth + 1}")
    return ids.scatter(missing.arg_true(), made).to_list()


def _record_ids(frame: pl.DataFrame) -> pl.Series:
    """Rule 2 per row (null where it does not apply)."""
    key = [
        pl.col("time").dt.epoch("ms").cast(pl.String)
        if c == "time"
        else pl.col(c).cast(pl.String).fill_null("")
        if c == "observation_domain"
        else pl.col(c).cast(pl.String)
        for c in RECORD_IDENTITY
    ]
    packet = pl.concat_str(key, separator="/")
    nth = pl.int_range(pl.len()).over(packet).cast(pl.String)
    record = pl.when(pl.col("flow_format").is_in(_RECORD_FORMATS)).then(
        pl.concat_str([packet, nth], separator="/")
    )
    return frame.select(record.alias("id")).to_series()
