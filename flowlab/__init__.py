"""flowlab: investigate network flow traffic in OpenShift/Kubernetes clusters from Jupyter.

Sources (sFlow pcap files, a live sFlow collector, Elasticsearch/ElastiFlow)
produce one canonical Polars flow frame (:mod:`flowlab.schema`); enrichment
adds Kubernetes names (:mod:`flowlab.k8s`); analyses and graphs
(:mod:`flowlab.analysis`, :mod:`flowlab.graph`) answer the questions; views
and exports (:mod:`flowlab.views`) put the answers into reports.
"""

from __future__ import annotations

from flowlab import schema, services
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
    PcapError,
    SamplingWarning,
    SchemaError,
    SFlowError,
    SourceError,
    UnknownLayoutError,
)
from flowlab.dataset import Dataset, load
from flowlab.schema import COUNTER_SCHEMA, FLOW_SCHEMA

__version__ = "0.1.0"

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
    "KubernetesError",
    "PcapError",
    "SFlowError",
    "SamplingWarning",
    "SchemaError",
    "SourceError",
    "UnknownLayoutError",
    "__version__",
    "load",
    "schema",
    "services",
]
