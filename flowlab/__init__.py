"""flowlab: investigate network flow traffic in OpenShift/Kubernetes clusters from Jupyter.

Sources (sFlow pcap files, a live sFlow collector, Elasticsearch/ElastiFlow)
produce one canonical Polars flow frame (:mod:`flowlab.schema`); enrichment
adds Kubernetes names (:mod:`flowlab.k8s`); analyses and graphs
(:mod:`flowlab.analysis`, :mod:`flowlab.graph`) answer the questions; views
and exports (:mod:`flowlab.views`) put the answers into reports.
"""

from __future__ import annotations

import typing as _typing

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

#: Top-level functions and classes, and the module that defines each; imported on first use.
_NAMES = {
    "COUNTER_SCHEMA": "flowlab.schema",
    "FLOW_SCHEMA": "flowlab.schema",
    "Dataset": "flowlab.dataset",
    "Inventory": "flowlab.k8s",
    "communication_graph": "flowlab.graph",
    "enrich": "flowlab.k8s",
    "load": "flowlab.dataset",
    "read_capture": "flowlab.store",
    "read_pcap": "flowlab.capture.pcap",
    "scan_capture": "flowlab.store",
}


def __getattr__(name: str) -> object:
    import importlib

    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
    elif name in _LAZY:
        value = importlib.import_module(f"flowlab.{name}")
    else:
        msg = f"module 'flowlab' has no attribute {name!r}"
        raise AttributeError(msg)
    globals()[name] = value  # the next lookup does not come here
    return value


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


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_NAMES))


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
