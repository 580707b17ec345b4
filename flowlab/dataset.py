"""One entry point for notebooks and scripts: load flows (and an inventory) from any source.

``load("demo")`` runs anywhere; ``load("elasticsearch")`` reads the connection
from ``FLOWLAB_ES_*`` environment variables (never from the notebook); a path
loads a capture directory written by ``flowlab collect``/``flowlab demo``, a
pcap/pcapng file, or the Parquet file ``flowlab read`` writes. With an
inventory the flows come back enriched (:func:`flowlab.k8s.enrich`), once:
``flowlab report``, the CLI and the notebooks all load through :func:`load`.

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
import difflib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from flowlab._time import TimeLike, parse_time, parse_window, stamp
from flowlab.exceptions import ConfigError, FlowlabWarning, SourceError
from flowlab.k8s import Inventory, enrich

__all__ = ["Dataset", "load", "parse_time", "parse_window"]


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


def _inventory(value: Inventory | str | os.PathLike[str] | None) -> Inventory | None:
    if value is None or isinstance(value, Inventory):
        return value
    return Inventory.from_file(Path(value))


_EXPECTED = (
    "expected a capture directory (from flowlab collect or flowlab demo), a pcap/pcapng file, "
    "or a Parquet file written by flowlab read"
)
#: pcap (microsecond and nanosecond, both byte orders) and pcapng magic numbers.
_PCAP_MAGIC = {b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"}
_PCAP_MAGIC.add(b"\x0a\x0d\x0d\x0a")


def _kind_of(path: Path) -> str:
    """``"pcap"``, ``"parquet"`` or ``"other"``, from the file's first bytes."""
    with path.open("rb") as f:
        head = f.read(4)
    if head in _PCAP_MAGIC:
        return "pcap"
    if head == b"PAR1":
        return "parquet"
    return "other"


def _parquet(path: Path) -> pl.DataFrame:
    from flowlab.schema import FLOW_SCHEMA

    names = pl.read_parquet_schema(path)
    missing = [c for c in FLOW_SCHEMA.names() if c not in names]
    if missing:
        msg = (
            f"{path} is a Parquet file but not of flows: it lacks {', '.join(missing[:6])}"
            f"{' ...' if len(missing) > 6 else ''}; {_EXPECTED}"
        )
        raise SourceError(msg)
    return pl.read_parquet(path)


def _from_dir(path: Path) -> tuple[pl.DataFrame, Path | None]:
    from flowlab.store import read_capture

    inv = path / "inventory.json"
    if (path / "flows").is_dir() or path.name == "flows":
        return read_capture(path), inv if inv.is_file() else None
    inside = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    captures = [p.name for p in inside if p.is_dir() and (p / "flows").is_dir()]
    captures += [p.name for p in inside if p.is_file() and _kind_of(p) != "other"]
    if len(captures) == 1:
        return _from_path(path / captures[0])
    if captures:
        msg = (
            f"{path} holds several captures ({', '.join(captures[:8])}); "
            "load one of them, e.g. flowlab.load(" + repr(str(path / captures[0])) + ")"
        )
        raise SourceError(msg)
    found = ", ".join(p.name for p in inside[:6]) or "nothing"
    msg = f"{path} is not a capture directory (it holds {found}); {_EXPECTED}"
    raise SourceError(msg)


def _from_path(path: Path) -> tuple[pl.DataFrame, Path | None]:
    if not path.exists():
        msg = f"{path} does not exist; {_EXPECTED}"
        raise ConfigError(msg)
    if path.is_dir():
        return _from_dir(path)
    kind = _kind_of(path)
    if kind == "parquet":
        return _parquet(path), None
    if kind == "pcap":
        from flowlab.capture.pcap import read_pcap

        return read_pcap(path).flows, None
    msg = f"{path} is neither a pcap/pcapng nor a Parquet file (by its first bytes); {_EXPECTED}"
    raise SourceError(msg)


def _outside(flows: pl.DataFrame, t0: dt.datetime | None, t1: dt.datetime | None) -> None:
    """Warn when the window keeps nothing of flows that exist, and say where they are."""
    first, last = flows["time"].min(), flows["time"].max()
    asked = f"{stamp(t0) if t0 else '…'} → {stamp(t1) if t1 else '…'}"
    msg = (
        f"no flows in the window {asked}; the data spans "
        f"{stamp(first)} → {stamp(last)}"  # type: ignore[arg-type]
    )
    warnings.warn(msg, FlowlabWarning, stacklevel=3)


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
        directory (its ``inventory.json`` is used when present), a pcap/pcapng
        file, or a Parquet file of flows (``flowlab read``); recognised by content.
    start, end : datetime, date, str or None
        The window ``[start, end)``: ISO 8601, or relative (``"now-1h"``, ``"-15m"``);
        naive times are UTC.
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
        For an unknown source, a missing path, an unreadable time or an inverted window.
    SourceError
        For a path that is not a capture (what was found, and what was expected).

    Warns
    -----
    FlowlabWarning
        When the window keeps none of the flows; the warning gives the data's span.
    """
    t0, t1 = parse_window(start, end)
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
    elif not Path(name).expanduser().exists() and "/" not in name and "." not in name:
        near = difflib.get_close_matches(name, ["demo", "elasticsearch"], n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        msg = f"unknown source {name!r} (and no such file): {hint}use 'demo', 'elasticsearch' or a capture path"
        raise ConfigError(msg)
    else:
        flows, inv_path = _from_path(Path(name).expanduser())
        if inv is None and inv_path is not None:
            inv = Inventory.from_file(inv_path)
    everything = flows
    if t0 is not None:
        flows = flows.filter(pl.col("time") >= t0)
    if t1 is not None:
        flows = flows.filter(pl.col("time") < t1)
    if flows.is_empty() and not everything.is_empty():
        _outside(everything, t0, t1)
    if inv is not None and "src_kind" not in flows.columns:
        flows = enrich(flows, inv)
    return Dataset(flows=flows, inventory=inv, source=name, start=t0, end=t1)
