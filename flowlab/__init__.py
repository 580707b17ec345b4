"""flowlab: investigate network flow traffic in OpenShift/Kubernetes clusters from Jupyter.

Sources (sFlow pcap files, a live sFlow collector, Elasticsearch/ElastiFlow)
produce one canonical Polars flow frame (:mod:`flowlab.schema`); enrichment
adds Kubernetes names (:mod:`flowlab.k8s`); analyses and graphs
(:mod:`flowlab.analysis`, :mod:`flowlab.graph`) answer the questions; views
and exports (:mod:`flowlab.views`) put the answers into reports.
"""

from __future__ import annotations

from flowlab import schema, services
from flowlab.capture.pcap import read_pcap
from flowlab.dataset import Dataset, load
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
from flowlab.graph import communication_graph
from flowlab.k8s import Inventory, enrich
from flowlab.schema import COUNTER_SCHEMA, FLOW_SCHEMA
from flowlab.store import read_capture, scan_capture

__version__ = "0.1.0"

#: Subpackages imported on first use (``flowlab.elastic`` pulls in the Elasticsearch client).
_LAZY = (
    "analysis",
    "capture",
    "collect",
    "demo",
    "elastic",
    "graph",
    "k8s",
    "report",
    "sflow",
    "store",
    "tables",
    "views",
)


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"flowlab.{name}")
    msg = f"module 'flowlab' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
