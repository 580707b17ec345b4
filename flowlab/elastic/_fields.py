"""ElastiFlow 3.5's fields: one table from which both the reading profile and the writing layout come.

The table is package data, ``flowlab/data/elastiflow_fields.tsv``. Each row is
one field as ElastiFlow 3.5 (Logstash) stores it (see
``shared/reference/elastiflow_fields.tsv``): its mapped type in ElastiFlow's
index template, and, where flowlab reads it, the canonical column it fills,
how a stored value becomes a canonical one (:data:`~flowlab.elastic.profiles.Kind`)
and the push-down dimension it groups by. The ``elastiflow3`` reading profile
(:mod:`flowlab.elastic.profiles`) and the ``elastiflow`` template flowlab
writes (:mod:`flowlab.elastic._mappings`) are derived from it, and the
document writer (:mod:`flowlab.elastic._documents`) writes each canonical
column to :data:`COLUMN_FIELDS` (the field read first for it) and each
push-down key's column to :data:`DIMENSION_FIELDS`, so a field renamed here is
renamed for reading and writing alike.

Examples
--------
>>> row = FIELDS["flow.src_addr"]
>>> row.es_type, row.column, row.kind, row.dimension
('ip', 'src_ip', 'text', 'src')
>>> [f.name for f in ELASTIFLOW35 if f.column == "in_if"]
['flow.input_snmp', 'sflow.input_interface_value']
>>> COLUMN_FIELDS["in_if"], DIMENSION_FIELDS["server"]
('flow.input_snmp', 'flow.server_addr')
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

__all__ = ["COLUMN_FIELDS", "DIMENSION_FIELDS", "ELASTIFLOW35", "FIELDS", "ElastiFlowField"]


@dataclass(frozen=True)
class ElastiFlowField:
    """One ElastiFlow 3.5 field.

    Attributes
    ----------
    name : str
        Dotted field name (``flow.src_addr``).
    es_type : str
        Its type in ElastiFlow's index template; ``""``: not in the template
        (mapped dynamically).
    column : str
        The canonical column it fills when read (``""``: not read). Several
        fields may fill one column: the first present wins, in table order.
    kind : str
        How a stored value becomes a canonical value (see ``profiles.Kind``).
    dimension : str
        The push-down dimension (:data:`flowlab.vocabulary.KEYS`) it groups by.
    """

    name: str
    es_type: str
    column: str = ""
    kind: str = "text"
    dimension: str = ""


def _read() -> tuple[ElastiFlowField, ...]:
    text = (resources.files("flowlab") / "data" / "elastiflow_fields.tsv").read_text("utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    header, body = rows[0], rows[1:]
    assert header == ["field", "es_type", "column", "kind", "dimension"], header
    return tuple(
        ElastiFlowField(name, es_type, column, kind or "text", dimension)
        for name, es_type, column, kind, dimension in body
    )


def _first_per_column(fields: tuple[ElastiFlowField, ...]) -> dict[str, str]:
    first: dict[str, str] = {}
    for f in fields:
        if f.column:
            first.setdefault(f.column, f.name)
    return first


#: every ElastiFlow 3.5 field flowlab maps, reads or groups by, in template order
#: (the data table ``flowlab/data/elastiflow_fields.tsv``)
ELASTIFLOW35: tuple[ElastiFlowField, ...] = _read()
#: the rows by field name
FIELDS: dict[str, ElastiFlowField] = {f.name: f for f in ELASTIFLOW35}
#: canonical column -> the field it is written to: the first row that fills it when read
COLUMN_FIELDS: dict[str, str] = _first_per_column(ELASTIFLOW35)
#: push-down dimension (:data:`flowlab.vocabulary.KEYS`) -> the field it groups by
DIMENSION_FIELDS: dict[str, str] = {f.dimension: f.name for f in ELASTIFLOW35 if f.dimension}
