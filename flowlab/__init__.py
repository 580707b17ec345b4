"""flowlab: investigate network flow traffic in OpenShift/Kubernetes clusters from Jupyter.

Sources (sFlow pcap files, a live sFlow collector, Elasticsearch/ElastiFlow)
produce one canonical Polars flow frame (:mod:`flowlab.schema`); enrichment
adds Kubernetes names (:mod:`flowlab.k8s`); analyses and graphs
(:mod:`flowlab.analysis`, :mod:`flowlab.graph`) answer the questions; views
and exports (:mod:`flowlab.views`) put the answers into reports.
"""

from __future__ import annotations

import typing as _typing

from flowlab import _lazy
from flowlab.exceptions import (
    CollectorError,
    ConfigError,
    DataLossWarning,
    DecodeError,
    ElasticAuthError,
    ElasticConnectionError,
    ElasticError,
    FlowlabError,
    FlowlabWarning,
    IndexNotFoundError,
    KubernetesError,
    MappingConflictError,
    OutputError,
    PcapError,
    SchemaError,
    SFlowError,
    SourceError,
    UnknownLayoutError,
    UnsupportedServerError,
    UsageError,
)

if _typing.TYPE_CHECKING:  # the names below are imported on first use (see __getattr__)
    from typing import Any

    from flowlab import schema, services
    from flowlab.capture.pcap import read_pcap
    from flowlab.dataset import Dataset, load
    from flowlab.graph import communication_graph
    from flowlab.k8s import Inventory, enrich
    from flowlab.schema import COUNTER_SCHEMA, FLOW_SCHEMA
    from flowlab.store import read_capture, scan_capture

__version__ = "0.1.0"

#: Subpackages and modules imported on first use (``flowlab.elastic`` pulls in the
#: Elasticsearch client, most others Polars), so ``import flowlab`` stays light.
_LAZY = (
    "analysis",
    "capture",
    "collect",
    "demo",
    "elastic",
    "graph",
    "k8s",
    "report",
    "schema",
    "services",
    "sflow",
    "store",
    "tables",
    "views",
)

#: Top-level functions and classes, by the module that defines them; imported on first use.
_NAMES = {
    "flowlab.capture.pcap": ("read_pcap",),
    "flowlab.dataset": ("Dataset", "load"),
    "flowlab.graph": ("communication_graph",),
    "flowlab.k8s": ("Inventory", "enrich"),
    "flowlab.schema": ("COUNTER_SCHEMA", "FLOW_SCHEMA"),
    "flowlab.store": ("read_capture", "scan_capture"),
}

__getattr__, __dir__ = _lazy.attach(globals(), _NAMES, submodules=_LAZY)


def _short_tracebacks() -> None:
    """In IPython/Jupyter, show a FlowlabError as its message and the line that raised it.

    Not the frames of flowlab and of the libraries under it (36 of the
    Elasticsearch client for a refused connection): the message says what was
    expected and what to do. ``%xmode`` and ``%tb`` still give the full story.
    """
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return

    def handler(
        shell: Any, etype: type[BaseException], value: BaseException, tb: Any, tb_offset: Any = None
    ) -> list[str]:
        import os
        import traceback

        here = os.path.dirname(os.path.abspath(__file__))
        frames = traceback.extract_tb(tb)
        inside = [i for i, f in enumerate(frames) if f.filename.startswith(here)]
        caller = frames[inside[0] - 1 : inside[0]] if inside and inside[0] else frames[-1:]
        where = [f"  {f.filename}, line {f.lineno}: {f.line}" for f in caller if f.line]
        lines = [f"{etype.__name__}: {value}", *where]
        shell._showtraceback(etype, value, lines)  # in Jupyter: an error output, as usual
        return lines

    shell.set_custom_exc((FlowlabError,), handler)


_short_tracebacks()


__all__ = [
    "COUNTER_SCHEMA",
    "FLOW_SCHEMA",
    "CollectorError",
    "ConfigError",
    "DataLossWarning",
    "Dataset",
    "DecodeError",
    "ElasticAuthError",
    "ElasticConnectionError",
    "ElasticError",
    "FlowlabError",
    "FlowlabWarning",
    "IndexNotFoundError",
    "Inventory",
    "KubernetesError",
    "MappingConflictError",
    "OutputError",
    "PcapError",
    "SFlowError",
    "SchemaError",
    "SourceError",
    "UnknownLayoutError",
    "UnsupportedServerError",
    "UsageError",
    "__version__",
    "communication_graph",
    "enrich",
    "load",
    "read_capture",
    "read_pcap",
    "scan_capture",
    "schema",
    "services",
    *_LAZY,
]
