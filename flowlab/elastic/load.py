"""Load flow documents from Elasticsearch into the canonical Polars flow frame.

:func:`load_flows` returns a frame (sorted by time), :func:`iter_flows` yields
it in batches as pages arrive, and :func:`load_flows_to_parquet` streams a
window larger than memory into a Parquet file. All three detect the layout
(:mod:`flowlab.elastic.profiles`), push the time window and the filters down
as an Elasticsearch query, read with several point-in-time slices in
parallel, and turn each page into columns without a Python object per
document (:mod:`flowlab.elastic._convert`). Memory stays bounded: at most
``2 x slices`` pages wait between the readers and the consumer.

Values that cannot be converted (``"abc"`` in a port field) become null and
are reported with a :class:`~flowlab.exceptions.DataLossWarning` naming the
fields and counts. A single-valued field holding an array (``"src_ip":
["10.0.0.1", "10.0.0.3"]``) gives its first element, and the documents whose
other elements were dropped are reported the same way. An empty time window
gives an empty canonical frame.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import polars as pl
import pyarrow.parquet as pq
from elasticsearch import Elasticsearch
from tqdm.auto import tqdm

from flowlab._atomic import AtomicFile
from flowlab.elastic._convert import ConversionStats, to_canonical
from flowlab.elastic._layout import resolve_profile
from flowlab.elastic._pages import parse_page
from flowlab.elastic._paging import Method, PageRequest, Reader, count
from flowlab.elastic.profiles import Profile
from flowlab.elastic.query import Filter, TimeLike, build_query, filter_frame
from flowlab.exceptions import ConfigError, DataLossWarning
from flowlab.schema import FLOW_SCHEMA

__all__ = ["iter_flows", "load_flows", "load_flows_to_parquet"]

log = logging.getLogger("flowlab.elastic")


def _columns(columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return list(FLOW_SCHEMA)
    unknown = [c for c in columns if c not in FLOW_SCHEMA]
    if unknown:
        msg = f"unknown columns {unknown}; the canonical columns are {list(FLOW_SCHEMA)}"
        raise ConfigError(msg)
    return [c for c in FLOW_SCHEMA if c in columns]


def iter_flows(
    es: Elasticsearch,
    index: str = "elastiflow-*",
    *,
    start: TimeLike = None,
    end: TimeLike = None,
    where: Filter | None = None,
    columns: Sequence[str] | None = None,
    profile: str | Profile = "auto",
    field_map: Mapping[str, str] | None = None,
    progress: bool = True,
    slices: int = 2,
    page_size: int = 10_000,
    method: Method = "auto",
    **filters: Any,
) -> Iterator[pl.DataFrame]:
    """Yield the matching flows as canonical frames, one per page, in no particular order.

    Takes the same arguments as :func:`load_flows`. When the server fails part
    way (stops answering, resets, goes away), the iterator raises
    :class:`~flowlab.exceptions.ElasticConnectionError` within
    ``request_timeout x (max_retries + 1)`` seconds, after the frames already
    yielded: a consumer that must not keep a partial window discards them
    (:func:`load_flows` and :func:`load_flows_to_parquet` do).
    """
    out_cols = _columns(columns)
    flt = (where or Filter()).merged(**filters)
    prof, layout = resolve_profile(es, index, profile, field_map)
    need = set(out_cols)
    need.update(flt.columns())
    build_cols = [c for c in FLOW_SCHEMA if c in need]
    fields = prof.fields(build_cols)
    query = build_query(prof, start=start, end=end, where=flt, types=layout.types)
    total = count(es, index, query)
    log.info(
        "loading %d documents from %s (profile %s, %d fields)", total, index, prof.name, len(fields)
    )
    if total == 0:
        return
    if page_size < 1 or page_size > 10_000:
        msg = f"page_size must be 1..10000 (Elasticsearch's result window), found {page_size}"
        raise ConfigError(msg)

    stats = ConversionStats()
    started = time.perf_counter()
    request = PageRequest(index=index, query=query, fields=fields, page_size=page_size)
    slices = max(1, min(int(slices), max(1, total // page_size + 1)))
    pipe: queue.Queue[tuple[str, Any, int, ConversionStats | None]] = queue.Queue(2 * slices)
    stop = threading.Event()

    def parse(raw: bytes) -> Any:
        return parse_page(raw, multi=prof.multi_fields, fields=fields)

    def work(reader: Reader, slice_id: int) -> None:
        try:
            for page in reader.iter_slice(slice_id, parse, stop):
                page_stats = ConversionStats(python_pages=int(page.python_fallback))
                frame = to_canonical(page.frame, prof, columns=build_cols, stats=page_stats)
                if flt:
                    frame = filter_frame(frame, flt)
                pipe.put(("page", frame.select(out_cols), page.frame.height, page_stats))
                if stop.is_set():
                    break
        except BaseException as exc:
            pipe.put(("error", exc, 0, None))
        finally:
            pipe.put(("done", None, 0, None))

    docs = rows = 0
    bar = tqdm(total=total, unit="flow", desc=index, disable=not progress, leave=False)
    try:
        with Reader(es, request, slices=slices, method=method) as reader:
            threads = [
                threading.Thread(target=work, args=(reader, i), daemon=True, name=f"flowlab-es-{i}")
                for i in range(slices)
            ]
            for t in threads:
                t.start()
            try:
                done = 0
                while done < len(threads):
                    kind, payload, ndocs, page_stats = pipe.get()
                    if kind == "done":
                        done += 1
                    elif kind == "error":
                        raise payload
                    else:
                        docs += ndocs
                        rows += payload.height
                        bar.update(ndocs)
                        if page_stats is not None:
                            stats.add(page_stats)
                        yield payload
            finally:
                stop.set()
                while any(t.is_alive() for t in threads):
                    with contextlib.suppress(queue.Empty):
                        pipe.get(timeout=0.05)
                for t in threads:
                    t.join()
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    log.info(
        "read %d documents -> %d flows from %s in %.2fs (%s, %d slices, %d pages via Python)",
        docs,
        rows,
        index,
        seconds,
        reader.method,
        slices,
        stats.python_pages,
    )
    if stats.total:
        msg = (
            f"{stats.total} stored values from {index!r} could not be converted and were set "
            f"to null: {stats.describe()}"
        )
        log.warning(msg)
        warnings.warn(msg, DataLossWarning, stacklevel=3)
    if stats.total_multi:
        msg = (
            f"{stats.total_multi} documents from {index!r} held several values in a "
            f"single-valued field; the first value was kept, the others dropped: "
            f"{stats.describe_multi()}"
        )
        log.warning(msg)
        warnings.warn(msg, DataLossWarning, stacklevel=3)


def load_flows(
    es: Elasticsearch,
    index: str = "elastiflow-*",
    *,
    start: TimeLike = None,
    end: TimeLike = None,
    where: Filter | None = None,
    columns: Sequence[str] | None = None,
    profile: str | Profile = "auto",
    field_map: Mapping[str, str] | None = None,
    progress: bool = True,
    slices: int = 2,
    page_size: int = 10_000,
    method: Method = "auto",
    **filters: Any,
) -> pl.DataFrame:
    """Load the flows of a time window into a canonical frame, sorted by time.

    Parameters
    ----------
    es : elasticsearch.Elasticsearch
        A client; one from :func:`flowlab.elastic.connect` reads fastest.
    index : str
        Index name or pattern (default the ElastiFlow 3.x pattern).
    start, end : datetime, date, str, int or None
        Window ``[start, end)``: datetimes (naive = UTC), ISO strings,
        Elasticsearch date math (``"now-1h"``) or epoch milliseconds.
    where : Filter, optional
        Criteria; keyword arguments (``server="10.0.0.0/8"``, ``service=...``,
        ``client``, ``ip``, ``port``, ``protocol``, ``exporter``) add to it.
    columns : sequence of str, optional
        Canonical columns to return (default all).
    profile : str or Profile
        Document layout: ``"auto"`` (detect), ``"elastiflow3"``, ``"codex"``,
        ``"ecs"``, ``"flowlab"`` or a :class:`~flowlab.elastic.profiles.Profile`.
    field_map : mapping, optional
        ``{canonical column: stored field}`` for layouts flowlab does not know.
    progress : bool
        Show a tqdm progress bar with the hit total.
    slices : int
        Parallel point-in-time slices.
    page_size : int
        Documents per request (at most 10000).
    method : {"auto", "pit", "scroll"}
        Paging method (auto: point in time on 7.12+, else sliced scroll).

    Returns
    -------
    polars.DataFrame
        Canonical flow frame (:data:`flowlab.schema.FLOW_SCHEMA`, or the
        requested columns), sorted by ``time``.

    Raises
    ------
    IndexNotFoundError, UnknownLayoutError, ElasticConnectionError, ElasticAuthError, ConfigError

    Examples
    --------
    >>> import flowlab.elastic as fe
    >>> es = fe.connect()  # doctest: +SKIP
    >>> flows = fe.load_flows(es, start="now-1h", service="etcd-client")  # doctest: +SKIP
    """
    out_cols = _columns(columns)
    frames = list(
        iter_flows(
            es,
            index,
            start=start,
            end=end,
            where=where,
            columns=out_cols,
            profile=profile,
            field_map=field_map,
            progress=progress,
            slices=slices,
            page_size=page_size,
            method=method,
            **filters,
        )
    )
    if not frames:
        return pl.DataFrame(schema={c: FLOW_SCHEMA[c] for c in out_cols})
    frame = pl.concat(frames, how="vertical", rechunk=True)
    return frame.sort("time", maintain_order=True) if "time" in out_cols else frame


def load_flows_to_parquet(
    es: Elasticsearch,
    path: str | os.PathLike[str],
    index: str = "elastiflow-*",
    *,
    row_group_size: int = 250_000,
    compression: str = "zstd",
    **kwargs: Any,
) -> int:
    """Stream the flows of a window into a Parquet file, for windows larger than memory.

    Takes the arguments of :func:`load_flows` (rows are not sorted). The file
    appears only when complete (:class:`flowlab._atomic.AtomicFile`: written
    beside it, then renamed); a failure to write raises
    :class:`~flowlab.exceptions.OutputError` and leaves nothing behind.

    Returns
    -------
    int
        Number of rows written (an empty window writes an empty file).
    """
    out_cols = _columns(kwargs.pop("columns", None))
    schema = pl.DataFrame(schema={c: FLOW_SCHEMA[c] for c in out_cols}).to_arrow().schema
    written = 0
    pending: list[pl.DataFrame] = []
    pending_rows = 0
    out = AtomicFile(path)

    def append(frames: list[pl.DataFrame]) -> None:
        table = pl.concat(frames).to_arrow()
        out.run(lambda fh: writer.write_table(table))

    try:
        writer = out.run(lambda fh: pq.ParquetWriter(fh, schema, compression=compression))
        for frame in iter_flows(es, index, columns=out_cols, **kwargs):
            pending.append(frame)
            pending_rows += frame.height
            if pending_rows >= row_group_size:
                append(pending)
                written += pending_rows
                pending, pending_rows = [], 0
        if pending:
            append(pending)
            written += pending_rows
        out.run(lambda fh: writer.close())
        out.commit()
    finally:
        out.abort()
    return written
