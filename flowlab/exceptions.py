"""Exceptions and warnings raised by flowlab.

The tree::

    FlowlabError
    ├── SchemaError             a frame does not follow the canonical flow schema
    ├── ConfigError             bad or missing settings (connection, CLI, inventory file)
    ├── UsageError (ValueError) a function called with arguments it cannot work with
    │   └── SFlowError          invalid input to the sFlow encoder, or inconsistent decoder arguments
    ├── DecodeError             bytes that are not what they claim to be
    │   └── PcapError           not a pcap/pcapng file, or a truncated one
    ├── OutputError             an output file could not be written (disk full, read-only, I/O error)
    └── SourceError             a data source failed
        ├── CollectorError      the live sFlow collector (socket, output directory)
        ├── ElasticError        Elasticsearch (connection, auth, index, mapping)
        │   ├── ElasticConnectionError
        │   ├── ElasticAuthError
        │   ├── IndexNotFoundError
        │   ├── UnknownLayoutError
        │   ├── MappingConflictError  a field mapped with different types across indices
        │   └── UnsupportedServerError  OpenSearch, or an Elasticsearch too old to talk to
        └── KubernetesError     the Kubernetes API or an inventory file

    FlowlabWarning
    └── DataLossWarning         datagrams or records were skipped or lost

Bad bytes on the wire are not errors: the decoders count them (``DecodeStats``)
and go on. ``DecodeError`` is for files that cannot be read at all;
``UsageError`` for calls that cannot be served (an encoder given a field out of
range, array arguments of different lengths).

Errors say what was expected, what was found, and what to do. Third-party
exceptions (elasticsearch, kubernetes) are translated into these at the edge
where flowlab meets the library, with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = [
    "CollectorError",
    "ConfigError",
    "DataLossWarning",
    "DecodeError",
    "ElasticAuthError",
    "ElasticConnectionError",
    "ElasticError",
    "FlowlabError",
    "FlowlabWarning",
    "IndexNotFoundError",
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
]


class FlowlabError(Exception):
    """Base class of every error flowlab raises on purpose."""


class SchemaError(FlowlabError):
    """A frame does not follow the canonical flow schema (missing column, wrong dtype)."""


class ConfigError(FlowlabError):
    """Settings are missing or invalid (connection parameters, CLI arguments, files)."""


class UsageError(FlowlabError, ValueError):
    """A function was called with arguments it cannot work with (a programming error, not bad data)."""


class DecodeError(FlowlabError):
    """Bytes could not be decoded."""


class PcapError(DecodeError):
    """A capture file is not pcap/pcapng, uses an unsupported link type, or is unreadable."""


class SFlowError(UsageError):
    """Invalid input to the sFlow encoder or packet builder, or inconsistent decoder arguments.

    Bad datagram bytes never raise it: :func:`flowlab.sflow.decode` counts them.
    """


class OutputError(FlowlabError):
    """An output file could not be written (disk full, read-only filesystem, I/O error).

    Nothing half-written is left behind: the file appears complete or not at all.
    """


class SourceError(FlowlabError):
    """A data source failed."""


class CollectorError(SourceError):
    """The live collector could not bind its socket or write its output."""


class ElasticError(SourceError):
    """Elasticsearch returned an error or could not be used."""


class ElasticConnectionError(ElasticError):
    """Elasticsearch could not be reached (DNS, refused connection, TLS, timeout)."""


class ElasticAuthError(ElasticError):
    """Elasticsearch refused the credentials (HTTP 401) or the permissions (HTTP 403)."""


class IndexNotFoundError(ElasticError):
    """No index matches the requested name or pattern."""


class UnknownLayoutError(ElasticError):
    """The documents of an index match none of the known field layouts (profiles)."""


class MappingConflictError(ElasticError):
    """A field has different mapped types across the indices of a pattern, where that matters.

    Loading tolerates such fields; aggregating on them inside Elasticsearch or
    writing into an index whose mapping disagrees with flowlab's does not.
    """


class UnsupportedServerError(ElasticError):
    """The server is not an Elasticsearch flowlab can talk to (OpenSearch, or a version too old)."""


class KubernetesError(SourceError):
    """The Kubernetes API or an inventory file could not be read."""


class FlowlabWarning(UserWarning):
    """Base class of flowlab's warnings."""


class DataLossWarning(FlowlabWarning):
    """Datagrams, samples or records were skipped or lost; the message says how many."""
