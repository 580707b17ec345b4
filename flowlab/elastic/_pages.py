"""Raw search-result pages -> a flat Polars frame, one column per stored field.

:func:`parse_page` takes the bytes of one search response (as
:mod:`flowlab.elastic._paging` reads them) and returns its hits as columns
named by dotted path, whatever the documents' nesting (``{"flow": {"bytes": 1}}``
and ``{"flow.bytes": 1}`` both land in ``flow.bytes``). The hits are read as
NDJSON by Arrow's JSON reader (else Polars), so no Python object is built per
document; a page neither can type (a field that is an object in one document
and a number in another) goes through :func:`flat_from_hits`, a plain-Python
path, and says so (``Page.python_fallback``).

Examples
--------
>>> page = parse_page(b'{"pit_id":"p","hits":{"hits":[{"_source":{"flow":{"bytes":10},'
...                   b'"@timestamp":"2021-07-01T00:00:00Z"},"sort":[7]}]}}')
>>> page.frame["flow.bytes"].to_list(), page.last_sort, page.meta
([10], [7], {'pit_id': 'p'})
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.json as pj

from flowlab.elastic import _json

__all__ = ["Page", "flat_from_hits", "parse_page"]

_HITS = b'"hits":{"hits":['
_BOUNDARY = b'},{"_source":'


@dataclass
class Page:
    """One parsed search-result page."""

    frame: pl.DataFrame
    last_sort: list[Any] | None
    meta: dict[str, Any]
    python_fallback: bool = False


def _wrap_multi(raw: bytes, multi: Iterable[str]) -> bytes:
    """Turn single-string values of list-or-scalar fields into one-element lists."""
    for name in multi:
        bare = name.rsplit(".", 1)[-1].encode()
        if bare + b'":"' not in raw:  # every value is already a list (the common case)
            continue
        raw = raw.replace(bare + b'":"none"', bare + b'":["none"]')  # ElastiFlow's only scalar
        if bare + b'":"' not in raw:
            continue
        # a literal start keeps the search fast; a key merely ending in the same name would be
        # wrapped too, which only matters for fields that are read, where the first item is taken
        pattern = re.escape(bare) + rb'":("(?:[^"\\]|\\.)*")'
        raw = re.sub(pattern, bare + rb'":[\1]', raw)
    return raw


def _read_lines(lines: bytes) -> pl.DataFrame:
    """NDJSON -> frame, typed over *all* lines (a field seen late is never dropped).

    Arrow's reader, as one block so that its type inference sees every line;
    it refuses a field whose type changes, then Polars (which widens to a
    common type) reads with a full-length inference.
    """
    try:
        options = pj.ReadOptions(block_size=len(lines) + 1, use_threads=False)
        table = pj.read_json(io.BytesIO(lines), read_options=options)
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return pl.read_ndjson(io.BytesIO(lines), infer_schema_length=None)


def _flatten(frame: pl.DataFrame, prefix: str = "") -> list[pl.Series]:
    out: list[pl.Series] = []
    for series in frame.get_columns():
        name = f"{prefix}{series.name}"
        if isinstance(series.dtype, pl.Struct):
            if not series.dtype.fields:
                continue
            out.extend(_flatten(series.struct.unnest(), prefix=f"{name}."))
        else:
            out.append(series.alias(name))
    return out


def _merge_same_names(columns: Sequence[pl.Series]) -> pl.DataFrame:
    by_name: dict[str, list[pl.Series]] = {}
    for s in columns:
        by_name.setdefault(s.name, []).append(s)
    merged: list[pl.Series] = []
    for name, group in by_name.items():
        if len(group) == 1:
            merged.append(group[0])
            continue
        if any(isinstance(s.dtype, pl.List) for s in group):
            group = [
                s.list.eval(pl.element().cast(pl.String))
                if isinstance(s.dtype, pl.List)
                else s.cast(pl.String)
                .to_frame()
                .select(pl.when(pl.first().is_not_null()).then(pl.concat_list(pl.first())))
                .to_series()
                for s in group
            ]
        elif len({s.dtype for s in group}) > 1:
            group = [s.cast(pl.String) for s in group]
        merged.append(pl.select(pl.coalesce(group)).to_series().alias(name))
    return pl.DataFrame(merged)


def parse_page(raw: bytes, *, multi: Iterable[str] = (), fields: Sequence[str] = ()) -> Page:
    """Parse one search response (``filter_path=hits.hits._source,hits.hits.sort,...``).

    Parameters
    ----------
    raw : bytes
        The response body.
    multi : iterable of str
        Fields that may hold a single string where others hold a list.
    fields : sequence of str
        Fields for the plain-Python fallback (all ``_source`` leaves when empty).

    Returns
    -------
    Page
        ``frame`` has one column per stored field (dotted names); ``meta``
        holds the rest of the response (``pit_id``, ``_scroll_id``).
    """
    start = raw.find(_HITS)
    if start < 0:
        meta = _json.loads(raw) if raw.strip() else {}
        if isinstance(meta.get("hits"), dict) and meta["hits"].get("hits"):
            # not Elasticsearch's compact form (e.g. pretty-printed): normalise and parse again
            return parse_page(_json.dumps(meta), multi=multi, fields=fields)
        meta.pop("hits", None)
        return Page(pl.DataFrame(), None, meta)
    begin = start + len(_HITS)
    end = raw.rfind(b"]}")
    meta = _json.loads(raw[:begin] + raw[end:])
    meta.pop("hits", None)
    body = raw[begin:end].strip()
    if not body:
        return Page(pl.DataFrame(), None, meta)
    lines = _wrap_multi(body.replace(_BOUNDARY, b'}\n{"_source":'), multi)
    try:
        frame = _read_lines(lines)
        parts: list[pl.Series] = []
        if "_source" in frame.columns and isinstance(frame.schema["_source"], pl.Struct):
            parts = _flatten(frame["_source"].struct.unnest())
        if "sort" in frame.columns:
            parts.append(frame["sort"])
        flat = _merge_same_names(parts) if parts else pl.DataFrame(height=frame.height)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError, ValueError):
        hits = _json.loads(b"[" + body + b"]")
        flat = flat_from_hits(hits, fields=fields, multi=multi)
        last = hits[-1].get("sort") if hits else None
        return Page(flat, last, meta, python_fallback=True)
    last_sort: list[Any] | None = None
    if "sort" in flat.columns:
        last_sort = flat["sort"][-1].to_list() if flat.height else None
        flat = flat.drop("sort")
    return Page(flat, last_sort, meta)


def _lookup(doc: Mapping[str, Any], path: str) -> Any:
    """A field of a ``_source`` by dotted path, whether stored nested or with dotted keys."""
    if path in doc:
        return doc[path]
    parts = path.split(".")
    for i in range(1, len(parts)):
        node = doc.get(".".join(parts[:i]))
        if isinstance(node, Mapping):
            found = _lookup(node, ".".join(parts[i:]))
            if found is not None:
                return found
    return None


def _leaves(doc: Mapping[str, Any], prefix: str = "") -> Iterable[str]:
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _leaves(value, f"{name}.")
        else:
            yield name


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return _json.dumps(value).decode()
    return str(value)


def flat_from_hits(
    hits: Sequence[Mapping[str, Any]], *, fields: Sequence[str] = (), multi: Iterable[str] = ()
) -> pl.DataFrame:
    """The plain-Python twin of :func:`parse_page`: hit dicts -> flat frame of strings.

    Examples
    --------
    >>> flat_from_hits([{"_source": {"flow": {"bytes": "10"}, "flow.packets": 1}}]).to_dicts()
    [{'flow.bytes': '10', 'flow.packets': '1'}]
    """
    sources = [h.get("_source") or {} for h in hits]
    names = list(fields)
    if not names:
        for doc in sources:
            names.extend(n for n in _leaves(doc) if n not in names)
    multi_set = set(multi)
    columns: dict[str, pl.Series] = {}
    for name in names:
        values = [_lookup(doc, name) for doc in sources]
        if all(v is None for v in values):
            continue
        if name in multi_set:
            lists = [
                None if v is None else [_text(x) for x in (v if isinstance(v, list) else [v])]
                for v in values
            ]
            columns[name] = pl.Series(name, lists, dtype=pl.List(pl.String))
        else:
            scal = [_text(v[0] if isinstance(v, list) and v else v) for v in values]
            columns[name] = pl.Series(name, scal, dtype=pl.String)
    return pl.DataFrame(list(columns.values()), schema=None) if columns else pl.DataFrame()
