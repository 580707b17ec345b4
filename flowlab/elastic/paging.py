"""Read every hit of a query in pages: point-in-time + ``search_after``, or sliced scroll.

Each slice is an independent stream of pages (raw response bytes), so
:mod:`flowlab.elastic.load` can read several slices in parallel threads.
Point-in-time with ``_shard_doc`` order (Elasticsearch 7.12+) is the default;
sliced scroll is the fallback for older servers and can be forced.

Pages are the raw bytes of each response when the client was made by
:func:`flowlab.elastic.connect` (no Python dict per document); other clients'
responses are parsed by elasticsearch-py and re-serialized, which is correct
but slower.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import orjson
from elasticsearch import Elasticsearch

from flowlab.elastic.connection import describe, server_info
from flowlab.elastic.errors import raise_for_status, translating
from flowlab.elastic.transport import FlowlabTransport, raw_request

__all__ = ["Method", "PageRequest", "Reader", "count"]

Method = Literal["auto", "pit", "scroll"]
KEEP_ALIVE = "5m"
_PIT_PATH = "filter_path=pit_id,hits.hits._source,hits.hits.sort"
_SCROLL_PATH = "filter_path=_scroll_id,hits.hits._source"


@dataclass(frozen=True)
class PageRequest:
    """What to read."""

    index: str
    query: dict[str, Any]
    fields: Sequence[str]
    page_size: int = 10_000


def count(es: Elasticsearch, index: str, query: dict[str, Any]) -> int:
    """Number of documents matching `query` (for progress bars and empty windows)."""
    with translating(f"count documents in {index!r}", url=describe(es), index=index):
        return int(es.count(index=index, query=query)["count"])


class Reader:
    """Pages of one query, split into `slices` independent streams.

    Use as a context manager: the point in time (or the scrolls) are released on exit.
    """

    def __init__(
        self, es: Elasticsearch, request: PageRequest, *, slices: int, method: Method = "auto"
    ) -> None:
        self.es = es
        self.request = request
        self.slices = max(1, int(slices))
        info = server_info(es)
        if method == "auto":
            method = "pit" if info.has_pit else "scroll"
        self.method: Literal["pit", "scroll"] = "pit" if method == "pit" else "scroll"
        self.url = describe(es)
        self.raw = isinstance(es.transport, FlowlabTransport)
        self._pit: str | None = None
        self._scrolls: set[str] = set()
        self._lock = threading.Lock()
        self.action = f"read flows from {request.index!r}"

    def __enter__(self) -> Reader:
        if self.method == "pit":
            with translating(f"open a point in time on {self.request.index!r}", url=self.url):
                resp = self.es.open_point_in_time(index=self.request.index, keep_alive=KEEP_ALIVE)
            self._pit = str(resp["id"])
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            with translating("release the point in time / scrolls", url=self.url):
                if self._pit is not None:
                    self.es.options(ignore_status=404).close_point_in_time(id=self._pit)
                if self._scrolls:
                    self.es.options(ignore_status=404).clear_scroll(scroll_id=list(self._scrolls))
        except Exception:  # cleanup must not hide the original error; ES expires them anyway
            if exc[0] is None:
                raise

    # -- one request ---------------------------------------------------------------------

    def _post(self, target: str, body: dict[str, Any]) -> bytes:
        if self.raw:
            with translating(self.action, url=self.url, index=self.request.index):
                status, raw = raw_request(
                    self.es.transport, "POST", target, orjson.dumps(body), request_timeout=None
                )
            if status >= 300:
                try:
                    err = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    err = raw.decode(errors="replace")
                raise_for_status(
                    status, err, action=self.action, url=self.url, index=self.request.index
                )
            return raw
        path, _, query = target.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if p)
        with translating(self.action, url=self.url, index=self.request.index):
            resp = self.es.perform_request(
                "POST",
                path,
                params=params,
                headers={"accept": "application/json", "content-type": "application/json"},
                body=body,
            )
        return orjson.dumps(resp.body)

    def _body(self, slice_id: int) -> dict[str, Any]:
        req = self.request
        body: dict[str, Any] = {
            "size": req.page_size,
            "query": req.query,
            "_source": {"includes": list(req.fields)},
            "track_total_hits": False,
        }
        if self.slices > 1:
            body["slice"] = {"id": slice_id, "max": self.slices}
        return body

    # -- a slice's pages --------------------------------------------------------------------

    def iter_slice(
        self, slice_id: int, parse: Any, stop: threading.Event | None = None
    ) -> Iterator[Any]:
        """Yield ``parse(raw_bytes)`` for every page of slice `slice_id`, in order.

        `parse` must return an object with ``last_sort`` (list or None),
        ``meta`` (dict) and ``frame`` (with ``height``), as
        :class:`flowlab.elastic.convert.Page` does.
        """
        if self.method == "pit":
            yield from self._iter_pit(slice_id, parse, stop)
        else:
            yield from self._iter_scroll(slice_id, parse, stop)

    def _iter_pit(self, slice_id: int, parse: Any, stop: threading.Event | None) -> Iterator[Any]:
        assert self._pit is not None
        pit = self._pit
        after: list[Any] | None = None
        while stop is None or not stop.is_set():
            body = self._body(slice_id)
            body["pit"] = {"id": pit, "keep_alive": KEEP_ALIVE}
            body["sort"] = ["_shard_doc"]
            if after is not None:
                body["search_after"] = after
            page = parse(self._post(f"/_search?{_PIT_PATH}", body))
            pit = str(page.meta.get("pit_id") or pit)
            if not page.frame.height or page.last_sort is None:
                return
            after = page.last_sort
            yield page
            if page.frame.height < self.request.page_size:
                return

    def _iter_scroll(
        self, slice_id: int, parse: Any, stop: threading.Event | None
    ) -> Iterator[Any]:
        body = self._body(slice_id)
        body["sort"] = ["_doc"]
        body.pop("track_total_hits")  # not allowed in a scroll context
        index = quote(self.request.index, safe="*,-_.+")
        page = parse(self._post(f"/{index}/_search?scroll={KEEP_ALIVE}&{_SCROLL_PATH}", body))
        while True:
            scroll_id = page.meta.get("_scroll_id")
            if scroll_id:
                with self._lock:
                    self._scrolls.add(str(scroll_id))
            if not page.frame.height:
                return
            yield page
            if (stop is not None and stop.is_set()) or not scroll_id:
                return
            page = parse(
                self._post(
                    f"/_search/scroll?{_SCROLL_PATH}",
                    {"scroll": KEEP_ALIVE, "scroll_id": scroll_id},
                )
            )
            new_id = page.meta.get("_scroll_id")
            if new_id and new_id != scroll_id:
                with self._lock:
                    self._scrolls.discard(str(scroll_id))
