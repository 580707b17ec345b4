"""One entry point for notebooks and scripts: load flows (and an inventory) from any source.

``load("demo")`` runs anywhere; ``load("elasticsearch")`` reads the connection
from ``FLOWLAB_ES_*`` environment variables (never from the notebook); a path
loads a capture directory written by ``flowlab collect``/``flowlab demo`` or a
pcap/pcapng file. With an inventory the flows come back enriched
(:func:`flowlab.k8s.enrich`).

Examples
--------
>>> import flowlab
>>> ds = flowlab.load("demo", seconds=120)
>>> ds.source, ds.flows.height > 0, ds.inventory is not None
('demo', True, True)
>>> "client_workload" in ds.flows.columns
True
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from flowlab.exceptions import ConfigError
from flowlab.k8s import Inventory, enrich

__all__ = ["Dataset", "load", "parse_time"]

TimeLike = dt.datetime | dt.date | str | None


@dataclass(frozen=True)
class Dataset:
    """Flows of one window, where they came from, and the inventory used to name them.

    Attributes
    ----------
    flows : polars.DataFrame
        Canonical flows, plus the enrichment columns when `inventory` is set.
    inventory : Inventory or None
        The Kubernetes inventory the flows were enriched with.
    source : str
        ``"demo"``, ``"elasticsearch"``, or the path that was read.
    start, end : datetime or None
        The window asked for (``start <= time < end``), UTC.
    """

    flows: pl.DataFrame
    inventory: Inventory | None
    source: str
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    @property
    def window(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """``(start, end)`` of the data actually present (None when empty)."""
        if self.flows.is_empty():
            return (None, None)
        return (self.flows["time"].min(), self.flows["time"].max())  # type: ignore[return-value]

    def summary(self) -> dict[str, str]:
        """What a person asks first: source, window, rows, exporters, sampling rates, share named.

        Examples
        --------
        >>> import flowlab
        >>> flowlab.load("demo", seconds=60).summary()["source"]
        'demo'
        """
        from flowlab.tables import human_window

        f = self.flows
        asked = human_window(self.start, self.end) if self.start or self.end else None
        out = {"source": self.source, "window": human_window(*self.window)}
        if asked:
            out["asked"] = asked
        out["rows"] = f"{f.height:,} flow records"
        if "exporter" in f.columns:
            exporters = f["exporter"].drop_nulls().unique().sort().to_list()
            shown = ", ".join(str(e) for e in exporters[:4])
            more = f" (+{len(exporters) - 4} more)" if len(exporters) > 4 else ""
            out["exporters"] = f"{len(exporters)}: {shown}{more}" if exporters else "none"
        if "sampling_rate" in f.columns:
            rates = f["sampling_rate"].drop_nulls().unique().sort().to_list()
            out["sampling"] = ", ".join(f"1 in {r:,}" for r in rates) or "unknown"
        if "src_kind" in f.columns and f.height:
            inside = (pl.col("src_kind") != "external") | (pl.col("dst_kind") != "external")
            share = f.select(inside.mean()).item()
            out["named"] = f"{share:.0%} of rows have a cluster name on one end at least"
        else:
            out["named"] = "not enriched (no inventory)"
        return out

    def __repr__(self) -> str:
        lines = [f"  {k}: {v}" for k, v in self.summary().items()]
        return "\n".join(["Dataset", *lines])

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in self.summary().items()
        )
        return f"<div class='flowlab-dataset'><b>Dataset</b><table>{rows}</table></div>"


def parse_time(value: TimeLike) -> dt.datetime | None:
    """A window bound as an aware UTC datetime: ISO 8601 text, date or datetime (naive = UTC).

    Examples
    --------
    >>> parse_time("2025-01-06T09:00:00Z")
    datetime.datetime(2025, 1, 6, 9, 0, tzinfo=datetime.timezone.utc)
    >>> parse_time(None) is None
    True
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            msg = f"cannot read the time {value!r}: use ISO 8601, e.g. 2025-01-06T09:00:00Z"
            raise ConfigError(msg) from exc
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def _inventory(value: Inventory | str | os.PathLike[str] | None) -> Inventory | None:
    if value is None or isinstance(value, Inventory):
        return value
    return Inventory.from_file(Path(value))


def _from_path(path: Path) -> tuple[pl.DataFrame, Path | None]:
    if not path.exists():
        msg = (
            f"no such capture: {path} (expected a directory from 'flowlab collect' or a pcap file)"
        )
        raise ConfigError(msg)
    if path.is_dir():
        from flowlab.store import read_capture

        inv = path / "inventory.json"
        return read_capture(path), inv if inv.exists() else None
    from flowlab.capture.pcap import read_pcap

    return read_pcap(path).flows, None


def load(
    source: str | os.PathLike[str] = "demo",
    *,
    start: TimeLike = None,
    end: TimeLike = None,
    inventory: Inventory | str | os.PathLike[str] | None = None,
    index: str | None = None,
    es: Any = None,
    seconds: float = 3600.0,
    seed: int = 0,
    progress: bool = False,
) -> Dataset:
    """Load the flows of a window from `source`, enriched when an inventory is known.

    Parameters
    ----------
    source : {"demo", "elasticsearch"} or path
        ``"demo"``: the simulated cluster, decoded in memory (with its inventory).
        ``"elasticsearch"``: the index `index` (default ``FLOWLAB_ES_INDEX`` or
        ``elastiflow-*``) on the server of ``FLOWLAB_ES_URL`` (see
        :func:`flowlab.elastic.connect`), or on `es` if given. A path: a capture
        directory (its ``inventory.json`` is used when present) or a pcap file.
    start, end : datetime, date, ISO string or None
        The window ``[start, end)``; naive times are UTC.
    inventory : Inventory or path, optional
        Enrich with this inventory (``oc get -o json`` file or a saved inventory).
        Defaults to ``FLOWLAB_INVENTORY`` when set.
    index : str, optional
        Elasticsearch index or pattern.
    es : elasticsearch.Elasticsearch, optional
        A client to use instead of one built from the environment.
    seconds, seed : float, int
        Demo duration and seed.
    progress : bool
        Show a progress bar while loading from Elasticsearch.

    Returns
    -------
    Dataset

    Raises
    ------
    ConfigError
        For an unknown source, a missing path or an unreadable time.
    """
    t0, t1 = parse_time(start), parse_time(end)
    inv = _inventory(inventory if inventory is not None else os.environ.get("FLOWLAB_INVENTORY"))
    name = os.fspath(source)
    if name == "demo":
        from flowlab import demo

        data = demo.load(seconds=seconds, seed=seed)
        flows = data.flows
        if inv is None:
            inv = Inventory.from_objects(data.inventory["items"])
    elif name in ("elasticsearch", "elastic", "es"):
        from flowlab import elastic

        client = es if es is not None else elastic.connect()
        idx = index or os.environ.get("FLOWLAB_ES_INDEX") or "elastiflow-*"
        flows = elastic.load_flows(client, idx, start=t0, end=t1, progress=progress)
    elif name in ("", "none"):
        msg = "no source given: use 'demo', 'elasticsearch' or a capture path"
        raise ConfigError(msg)
    else:
        flows, inv_path = _from_path(Path(name).expanduser())
        if inv is None and inv_path is not None:
            inv = Inventory.from_file(inv_path)
    if t0 is not None:
        flows = flows.filter(pl.col("time") >= t0)
    if t1 is not None:
        flows = flows.filter(pl.col("time") < t1)
    if inv is not None:
        flows = enrich(flows, inv)
    return Dataset(flows=flows, inventory=inv, source=name, start=t0, end=t1)
