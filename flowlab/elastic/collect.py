"""Ship a live collector's flows to Elasticsearch: :class:`ElasticSink`.

:class:`ElasticSink` is a collector sink: call it with each decoded batch (a
canonical frame, or anything with a ``.flows`` frame, as the collector hands
its sinks), then ``close()``; it buffers and bulk-indexes with
:func:`~flowlab.elastic.write_flows`. ``flowlab collect --to-elasticsearch``
(options in :mod:`flowlab.cli`) builds one.

Examples
--------
>>> import flowlab.elastic as fe
>>> sink = ElasticSink(fe.connect("http://127.0.0.1:1", check=False), index="flows")
>>> sink
<ElasticSink flows (flowlab) written=0 existing=0 rejected=0>
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import polars as pl
from elasticsearch import Elasticsearch

from flowlab.elastic.sink import Layout, WriteResult, target_index, write_flows
from flowlab.exceptions import ConfigError, DataLossWarning, FlowlabError

__all__ = ["ElasticSink"]


class ElasticSink:
    """A collector sink: bulk-indexes each decoded batch, buffering up to `batch_size` rows.

    Parameters
    ----------
    es : elasticsearch.Elasticsearch
        A client.
    index, layout, **kwargs
        As for :func:`write_flows`.
    batch_size : int
        Rows buffered before a write.
    """

    def __init__(
        self,
        es: Elasticsearch,
        *,
        index: str | None = None,
        layout: Layout = "flowlab",
        batch_size: int = 5000,
        **kwargs: Any,
    ) -> None:
        self.es = es
        self.index = target_index(layout, index)
        self.layout: Layout = layout
        self.batch_size = batch_size
        self.kwargs = kwargs
        self.result = WriteResult()
        self._buffer: list[pl.DataFrame] = []
        self._rows = 0
        self._installed = False
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"<ElasticSink {self.index} ({self.layout}) written={self.result.written} "
            f"existing={self.result.existing} "
            f"rejected={self.result.rejected}>"
        )

    def __call__(self, batch: Any) -> None:
        """Add a batch: a canonical frame, or an object with a ``.flows`` frame."""
        frame = batch if isinstance(batch, pl.DataFrame) else batch.flows
        if frame.height == 0:
            return
        with self._lock:
            if self._closed:
                msg = "ElasticSink is closed"
                raise ConfigError(msg)
            self._buffer.append(frame)
            self._rows += frame.height
            if self._rows >= self.batch_size:
                self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        frame = pl.concat(self._buffer, how="vertical")
        self._buffer, self._rows = [], 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DataLossWarning)
                result = write_flows(
                    self.es,
                    frame,
                    self.index,
                    layout=self.layout,
                    install=not self._installed,
                    **self.kwargs,
                )
        except FlowlabError as exc:  # count the batch as lost, let the caller see the error
            self.result.rejected += frame.height
            self.result.errors[f"batch failed: {exc}"[:300]] += frame.height
            raise
        self._installed = True
        self.result.add(result)

    def flush(self) -> None:
        """Write what is buffered now."""
        with self._lock:
            self._flush()

    def close(self) -> WriteResult:
        """Flush and return the totals (rejections warn with DataLossWarning)."""
        with self._lock:
            if not self._closed:
                self._flush()
                self._closed = True
        if self.result.rejected:
            msg = f"Elasticsearch rejected {self.result.rejected} flows: {self.result.summary()}"
            warnings.warn(msg, DataLossWarning, stacklevel=2)
        return self.result

    def __enter__(self) -> ElasticSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
