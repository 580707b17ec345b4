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

import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from elasticsearch import Elasticsearch

from flowlab.elastic import _json
from flowlab.elastic._errors import raise_for_status, translating
from flowlab.elastic._transport import FlowlabTransport, raw_request
from flowlab.elastic.connection import describe, server_info
from flowlab.exceptions import ConfigError, ElasticConnectionError

__all__ = ["Method", "PageRequest", "Reader", "count", "cursor"]

Method = Literal["auto", "pit", "scroll"]
KEEP_ALIVE = "5m"
_CLEANUP_TIMEOUT = 2.0  # seconds for the release after a failed read
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
        elif method == "pit" and not info.has_pit and info.version != (0, 0, 0):
            msg = (
                f"point-in-time paging needs Elasticsearch 7.12+ (found {info}); "
                "use method='scroll' or 'auto'"
            )
            raise ConfigError(msg)
        elif method not in ("pit", "scroll"):
            msg = f"method must be 'auto', 'pit' or 'scroll', found {method!r}"
            raise ConfigError(msg)
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
        # After a failure one quick attempt only, none when the server stopped answering:
        # Elasticsearch expires the point in time / scrolls after KEEP_ALIVE anyway.
        if isinstance(exc[1], ElasticConnectionError):
            return
        es = self.es.options(ignore_status=404)
        if exc[0] is not None:
            es = es.options(max_retries=0, request_timeout=_CLEANUP_TIMEOUT)
        try:
            with translating("release the point in time / scrolls", url=self.url):
                if self._pit is not None:
                    es.close_point_in_time(id=self._pit)
                if self._scrolls:
                    es.clear_scroll(scroll_id=list(self._scrolls))
        except Exception:  # cleanup must not hide the original error; ES expires them anyway
            if exc[0] is None:
                raise

    # -- one request ---------------------------------------------------------------------

    def _post(self, target: str, body: dict[str, Any]) -> bytes:
        if self.raw:
            with translating(self.action, url=self.url, index=self.request.index):
                status, raw = raw_request(self.es.transport, "POST", target, _json.dumps(body))
            if status >= 300:
                try:
                    err = _json.loads(raw)
                except _json.JSONDecodeError:
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
        return _json.dumps(resp.body)

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

        The next page is requested before the current one is parsed (its cursor
        is read from the raw bytes), so Elasticsearch works while flowlab parses.
        """
        pages = self._pit_pages if self.method == "pit" else self._scroll_pages
        for raw in pages(slice_id, stop or threading.Event()):
            yield parse(raw)

    def _pit_pages(self, slice_id: int, stop: threading.Event) -> Iterator[bytes]:
        assert self._pit is not None
        pit = self._pit

        def request(after: list[Any] | None) -> bytes:
            body = self._body(slice_id)
            body["pit"] = {"id": pit, "keep_alive": KEEP_ALIVE}
            body["sort"] = ["_shard_doc"]
            if after is not None:
                body["search_after"] = after
            return self._post(f"/_search?{_PIT_PATH}", body)

        with ThreadPoolExecutor(1, thread_name_prefix="flowlab-prefetch") as pool:
            pending = pool.submit(request, None)
            while True:
                raw = pending.result()
                hits, last, new_id = cursor(raw)
                pit = new_id or pit
                if not hits or last is None:
                    return
                more = hits >= self.request.page_size and not stop.is_set()
                if more:
                    pending = pool.submit(request, last)
                yield raw
                if not more:
                    return

    def _scroll_pages(self, slice_id: int, stop: threading.Event) -> Iterator[bytes]:
        body = self._body(slice_id)
        body["sort"] = ["_doc"]
        body.pop("track_total_hits")  # not allowed in a scroll context
        index = quote(self.request.index, safe="*,-_.+")

        def request(scroll_id: str | None) -> bytes:
            if scroll_id is None:
                return self._post(f"/{index}/_search?scroll={KEEP_ALIVE}&{_SCROLL_PATH}", body)
            return self._post(
                f"/_search/scroll?{_SCROLL_PATH}", {"scroll": KEEP_ALIVE, "scroll_id": scroll_id}
            )

        previous: str | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="flowlab-prefetch") as pool:
            pending = pool.submit(request, None)
            while True:
                raw = pending.result()
                hits, _, scroll_id = cursor(raw)
                with self._lock:
                    if scroll_id:
                        self._scrolls.add(scroll_id)
                    if previous and scroll_id != previous:
                        self._scrolls.discard(previous)
                previous = scroll_id
                if not hits:
                    return
                more = bool(scroll_id) and not stop.is_set()
                if more:
                    pending = pool.submit(request, scroll_id)
                yield raw
                if not more:
                    return


_CURSOR_ID = re.compile(rb'"(?:pit_id|_scroll_id)":"([^"]+)"')


def cursor(raw: bytes) -> tuple[int, list[Any] | None, str | None]:
    """``(hits, last sort values, pit/scroll id)`` of a raw page, without parsing its documents.

    Examples
    --------
    >>> cursor(b'{"pit_id":"p1","hits":{"hits":[{"_source":{},"sort":[4]},{"_source":{},"sort":[9]}]}}')
    (2, [9], 'p1')
    """
    hits = raw.count(b'"_source":')
    last: list[Any] | None = None
    k = raw.rfind(b'"sort":[')
    if k >= 0:
        last = _json.loads(raw[k + 7 : raw.index(b"]", k) + 1])
    found = _CURSOR_ID.search(raw, 0, 8192) or _CURSOR_ID.search(raw, max(0, len(raw) - 8192))
    return hits, last, found.group(1).decode() if found else None
