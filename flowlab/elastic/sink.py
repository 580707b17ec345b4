"""Write canonical flow frames into Elasticsearch (the Logstash replacement).

:func:`write_flows` installs an index template with explicit mappings, then
bulk-indexes the frame in chunks, two requests in flight at most
(back-pressure), retrying documents Elasticsearch rejects with HTTP 429 with
exponential back-off. Every document is accounted for: the returned
:class:`WriteResult` counts those written, those already stored and those
rejected, with a summary of the rejection reasons; rejections are also logged
and raised as a :class:`~flowlab.exceptions.DataLossWarning`.

Writes are idempotent: each row is sent as a bulk ``create`` under a
deterministic ``_id`` (:mod:`flowlab.elastic._ids`), so a request the client
retries after a timeout, a frame written twice or a restarted collector never
stores a flow twice; a document already there is counted in
:attr:`WriteResult.existing`, not written again.

:class:`flowlab.elastic.collect.ElasticSink` does the same for a live collector.
"""

from __future__ import annotations

import logging
import re
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl
from elasticsearch import Elasticsearch

from flowlab.elastic import _json
from flowlab.elastic._documents import elastiflow_lines, flowlab_lines
from flowlab.elastic._errors import error_reason, translating
from flowlab.elastic._ids import document_ids
from flowlab.elastic._layout import field_caps, type_family
from flowlab.elastic._mappings import (
    ELASTIFLOW_INDEX_PREFIX,
    ELASTIFLOW_MAPPING,
    ELASTIFLOW_SETTINGS,
    ELASTIFLOW_TEMPLATE,
    FLOWLAB_MAPPING,
    field_types,
)
from flowlab.elastic.connection import describe, server_info
from flowlab.exceptions import ConfigError, DataLossWarning, MappingConflictError
from flowlab.schema import conform

__all__ = ["WriteResult", "install_template", "target_index", "write_flows"]

log = logging.getLogger("flowlab.elastic")

Layout = Literal["flowlab", "elastiflow"]
_DOC_ID = re.compile(r"(?:in )?document with id '[^']*'")
_NO_TIME = "no time: an elastiflow document needs @timestamp (and its daily index)"


@dataclass
class WriteResult:
    """What a write did.

    Attributes
    ----------
    written : int
        Documents Elasticsearch stored (created) for this write.
    existing : int
        Documents already stored under the same ``_id`` (an earlier write of
        the same flows, or a request retried after its answer was lost): not
        written again, not lost.
    rejected : int
        Documents it refused (after retries for HTTP 429), and rows that
        cannot be a document of the layout (an ``elastiflow`` row without a time).
    errors : Counter
        ``"status type: reason"`` -> number of rejected documents.
    retried : int
        Documents re-sent after HTTP 429.
    indices : set of str
        Indices written to.
    """

    written: int = 0
    existing: int = 0
    rejected: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    retried: int = 0
    indices: set[str] = field(default_factory=set)

    def add(self, other: WriteResult) -> None:
        """Accumulate another result."""
        self.written += other.written
        self.existing += other.existing
        self.rejected += other.rejected
        self.errors.update(other.errors)
        self.retried += other.retried
        self.indices |= other.indices

    def summary(self, limit: int = 5) -> str:
        """The most frequent rejection reasons."""
        return "; ".join(f"{n} x {reason}" for reason, n in self.errors.most_common(limit))


def _template_body(layout: Layout, index: str, *, shards: int, replicas: int) -> tuple[str, dict]:
    if layout == "elastiflow":
        name = (
            ELASTIFLOW_TEMPLATE
            if index == ELASTIFLOW_INDEX_PREFIX
            else f"flowlab-{index.rstrip('-')}"
        )
        return name, {
            "index_patterns": [f"{index}*"],
            "settings": ELASTIFLOW_SETTINGS,
            "mappings": ELASTIFLOW_MAPPING,
        }
    settings = {"index": {"number_of_shards": shards, "number_of_replicas": replicas}}
    return f"flowlab-{index}", {
        "index_patterns": [index],
        "settings": settings,
        "mappings": FLOWLAB_MAPPING,
    }


def target_index(layout: Layout, index: str | None) -> str:
    """The index (flowlab) or daily-index prefix (elastiflow) to write to, validated."""
    if index is None:
        return ELASTIFLOW_INDEX_PREFIX if layout == "elastiflow" else "flowlab-flows"
    bad = not index or index != index.lower() or index.startswith(("_", "-", "+"))
    if bad or any(ch in index for ch in ' "*\\<|,>/?#:'):
        msg = f'{index!r} is not a valid index name (lowercase, no spaces or \\/*?"<>|,#:)'
        raise ConfigError(msg)
    return index


def install_template(
    es: Elasticsearch,
    *,
    layout: Layout = "flowlab",
    index: str | None = None,
    shards: int = 1,
    replicas: int = 1,
) -> str:
    """Install (or update) the index template of a layout; returns its name.

    Composable templates (``_index_template``) on Elasticsearch 7.8+, legacy
    ``_template`` before. `index` as for :func:`write_flows`.
    """
    name, body = _template_body(
        layout, target_index(layout, index), shards=shards, replicas=replicas
    )
    info = server_info(es)
    with translating(f"install index template {name!r}", url=describe(es)):
        if info.has_composable_templates or info.version == (0, 0, 0):
            es.indices.put_index_template(
                name=name,
                index_patterns=body["index_patterns"],
                template={"settings": body["settings"], "mappings": body["mappings"]},
                # more specific patterns win over ElastiFlow's own (elastiflow-3.5.0-*)
                priority=100 + len(body["index_patterns"][0]),
                version=30500 if layout == "elastiflow" else 1,
                meta={"managed_by": "flowlab"},
            )
        else:
            es.indices.put_template(
                name=name,
                index_patterns=body["index_patterns"],
                settings=body["settings"],
                mappings=body["mappings"],
                order=0,
                version=30500 if layout == "elastiflow" else 1,
            )
    return name


def _check_existing(es: Elasticsearch, layout: Layout, indices: Sequence[str]) -> None:
    """Refuse to write into existing indices whose mapping contradicts the layout's."""
    mapping = ELASTIFLOW_MAPPING if layout == "elastiflow" else FLOWLAB_MAPPING
    expected = field_types(mapping)
    url = describe(es)
    with translating("read the mapping of the target indices", url=url):
        caps = field_caps(es, list(indices), list(expected), allow_no_indices=True)
    problems = []
    for name, by_type in (caps.get("fields") or {}).items():
        want = type_family(expected.get(name, ""))
        for es_type, info in by_type.items():
            if es_type in ("object", "unmapped") or type_family(es_type) == want:
                continue
            where = ", ".join(info.get("indices") or indices)
            problems.append(f"{name} is {es_type} in {where} (flowlab writes {expected[name]})")
    if problems:
        msg = (
            "cannot write flows into indices whose mapping disagrees with the "
            f"{layout} layout: {'; '.join(problems[:10])}. Write to a new index name, "
            "or delete/reindex the old indices"
        )
        raise MappingConflictError(msg)


def _documents(frame: pl.DataFrame, layout: Layout, index: str) -> tuple[list[bytes], list[str]]:
    if layout == "elastiflow":
        return elastiflow_lines(frame, prefix=index)
    lines = flowlab_lines(frame)
    return lines, [index] * len(lines)


def _actions(indices: list[str], ids: list[str]) -> list[bytes]:
    """Bulk ``create`` action lines: a document already stored under its ``_id`` is kept."""
    return [
        b'{"create":{"_index":%s,"_id":%s}}' % (_json.dumps(ix), _json.dumps(doc_id))
        for ix, doc_id in zip(indices, ids)
    ]


def _bulk_once(
    es: Elasticsearch, lines: list[bytes], actions: list[bytes], *, refresh: bool
) -> tuple[WriteResult, list[int]]:
    body = b"".join(action + b"\n" + doc + b"\n" for action, doc in zip(actions, lines))
    with translating("bulk-index flows", url=describe(es)):
        resp = es.bulk(
            operations=body,  # type: ignore[arg-type]  # pre-serialized NDJSON is passed through
            refresh=refresh,
            filter_path="errors,items.*.status,items.*.error",
        ).body
    result = WriteResult()
    retry: list[int] = []
    items = resp.get("items") or []
    if not resp.get("errors"):
        result.written = len(lines)
        return result, retry
    for i, item in enumerate(items):
        op: dict[str, Any] = next(iter(item.values()), {})
        status = int(op.get("status", 0))
        if 200 <= status < 300:
            result.written += 1
        elif status == 409:  # create: a document with this _id is already stored
            result.existing += 1
        elif status == 429:
            retry.append(i)
        else:
            etype, reason = error_reason({"error": op.get("error")})
            reason = _DOC_ID.sub("a document", reason)  # group equal reasons across documents
            result.rejected += 1
            result.errors[f"{status} {etype}: {reason[:200]}"] += 1
    return result, retry


def _bulk(
    es: Elasticsearch,
    lines: list[bytes],
    indices: list[str],
    ids: list[str],
    *,
    refresh: bool,
    max_retries: int,
    initial_backoff: float,
) -> WriteResult:
    total = WriteResult(indices=set(indices))
    actions = _actions(indices, ids)
    attempt = 0
    while lines:
        result, retry = _bulk_once(es, lines, actions, refresh=refresh)
        total.add(result)
        if not retry:
            break
        if attempt >= max_retries:
            total.rejected += len(retry)
            total.errors["429 es_rejected_execution_exception: still rejected after retries"] += (
                len(retry)
            )
            break
        time.sleep(min(initial_backoff * 2**attempt, 60.0))
        attempt += 1
        total.retried += len(retry)
        lines = [lines[i] for i in retry]
        actions = [actions[i] for i in retry]
    return total


def write_flows(
    es: Elasticsearch,
    frame: pl.DataFrame,
    index: str | None = None,
    *,
    layout: Layout = "flowlab",
    chunk_size: int = 5000,
    max_retries: int = 5,
    initial_backoff: float = 1.0,
    refresh: bool = False,
    shards: int = 1,
    replicas: int = 1,
    install: bool = True,
) -> WriteResult:
    """Bulk-index a canonical flow frame.

    Parameters
    ----------
    es : elasticsearch.Elasticsearch
        A client.
    frame : polars.DataFrame
        Canonical flow frame (it is passed through :func:`flowlab.schema.conform`).
    index : str, optional
        ``flowlab`` layout: the index (default ``flowlab-flows``).
        ``elastiflow`` layout: the prefix of the daily indices (default
        ``elastiflow-3.5.0-``, giving ``elastiflow-3.5.0-YYYY.MM.dd`` by UTC day).
    layout : {"flowlab", "elastiflow"}
        Document layout.
    chunk_size : int
        Documents per bulk request.
    max_retries, initial_backoff : int, float
        Retries (and first delay in seconds, doubling) for documents rejected with HTTP 429.
    refresh : bool
        Make the documents searchable before returning.
    shards, replicas : int
        Index settings of the ``flowlab`` template.
    install : bool
        Install the index template first.

    Returns
    -------
    WriteResult
        Counts and rejection reasons (rejections also warn with DataLossWarning).
        Writing is idempotent: rows already stored (same ``_id``, see
        :mod:`flowlab.elastic._ids`) count as ``existing``.

    Raises
    ------
    MappingConflictError
        When existing target indices map a field with another type.
    """
    if layout not in ("flowlab", "elastiflow"):
        msg = f"layout must be 'flowlab' or 'elastiflow', found {layout!r}"
        raise ConfigError(msg)
    if chunk_size < 1:
        msg = f"chunk_size must be positive, found {chunk_size}"
        raise ConfigError(msg)
    target = target_index(layout, index)
    frame = conform(frame)
    result = WriteResult()
    rows = frame.height
    if layout == "elastiflow" and frame["time"].null_count():
        untimed = frame["time"].is_null()
        result.rejected = int(untimed.sum())
        result.errors[_NO_TIME] = result.rejected
        frame = frame.filter(~untimed)
    ids = document_ids(frame)
    if frame.height == 0:
        _warn_rejected(result, rows)
        return result
    if install:
        install_template(es, layout=layout, index=target, shards=shards, replicas=replicas)
    started = time.perf_counter()
    pending: list[Future[WriteResult]] = []
    targets: set[str] = set()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="flowlab-bulk") as pool:
        for offset in range(0, frame.height, chunk_size):
            lines, indices = _documents(frame.slice(offset, chunk_size), layout, target)
            chunk_ids = ids[offset : offset + chunk_size]
            new = set(indices) - targets
            if new:
                _check_existing(es, layout, sorted(new))
                targets |= new
            while len(pending) >= 2:
                result.add(pending.pop(0).result())
            pending.append(
                pool.submit(
                    _bulk,
                    es,
                    lines,
                    indices,
                    chunk_ids,
                    refresh=False,
                    max_retries=max_retries,
                    initial_backoff=initial_backoff,
                )
            )
        for fut in pending:
            result.add(fut.result())
    if refresh and result.indices:
        with translating("refresh the written indices", url=describe(es)):
            es.indices.refresh(index=sorted(result.indices))
    log.info(
        "wrote %d flows (%d already stored, %d rejected, %d retried) to %s in %.2fs",
        result.written,
        result.existing,
        result.rejected,
        result.retried,
        ", ".join(sorted(result.indices)),
        time.perf_counter() - started,
    )
    _warn_rejected(result, rows)
    return result


def _warn_rejected(result: WriteResult, rows: int) -> None:
    if result.rejected:
        msg = f"rejected {result.rejected} of {rows} flows (not written): {result.summary()}"
        log.warning(msg)
        warnings.warn(msg, DataLossWarning, stacklevel=3)
