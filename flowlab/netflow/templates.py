"""Templates, the template cache and the decoder state carried from batch to batch.

An IPFIX / NetFlow v9 exporter describes its data records by templates; the
cache keeps them per (exporter, observation domain or source id, template
id) and applies withdrawal (an IPFIX template record with field count 0; a
withdrawal of id 2 or 3 withdraws all templates of the domain) and
redefinition (a new template of the same id replaces the old one from the
next set on). Data sets whose template is not known yet wait in a bounded
buffer (at most :attr:`TemplateCache.max_pending` sets, for at most
:attr:`TemplateCache.pending_ms`) and are decoded when it comes; the ones
that expire or overflow are counted. Options records set the sampling rate
of a domain or of a sampler (selector) id. The cache survives a collector
restart through :meth:`TemplateCache.to_json` / :meth:`TemplateCache.from_json`.

Examples
--------
>>> cache = TemplateCache()
>>> t = Template(256, ((8, 0, 4), (12, 0, 4), (2, 0, 8)))
>>> cache.add("10.0.0.1", 0, t)
>>> cache.get("10.0.0.1", 0, 256).record_length
16
>>> again = TemplateCache.from_json(cache.to_json())
>>> again.get("10.0.0.1", 0, 256) == t
True
>>> cache.withdraw("10.0.0.1", 0, 256)
>>> cache.get("10.0.0.1", 0, 256) is None
True
"""

from __future__ import annotations

import json
from collections import deque
from operator import itemgetter
from typing import Any

from flowlab._plain import Frozen, Record, set_fields
from flowlab.decoding.sequence import SequenceTracker
from flowlab.netflow.elements import VARIABLE_LENGTH

__all__ = ["NetFlowState", "PendingSet", "Template", "TemplateCache"]

#: one template field: (element id, enterprise number (0 = IANA), length or VARIABLE_LENGTH)
Field = tuple[int, int, int]
#: (exporter, observation domain / source id)
Domain = tuple[str, int]
_LENGTH = itemgetter(2)


class Template(Frozen):
    """A data or options template.

    Attributes
    ----------
    id : int
        Template id (256-65535).
    fields : tuple of (element id, enterprise, length)
        In record order; length 65535 marks a variable-length field.
    scope_count : int
        Scope fields at the front (options templates); 0 for data templates.
    """

    __slots__ = ("_hash", "_measures", "fields", "id", "scope_count")
    _fields = ("id", "fields", "scope_count")

    id: int
    fields: tuple[Field, ...]
    scope_count: int
    _hash: int
    _measures: tuple[int, bool]

    def __init__(self, id: int, fields: tuple[Field, ...], scope_count: int = 0) -> None:
        set_fields(self, id=id, fields=fields, scope_count=scope_count)

    def __hash__(self) -> int:  # decoders key their work by template: hash the fields once
        try:
            return self._hash
        except AttributeError:
            got = hash((self.id, self.fields, self.scope_count))
            object.__setattr__(self, "_hash", got)
            return got

    @property
    def variable(self) -> bool:
        """Whether any field has a variable length."""
        return self._measured()[1]

    @property
    def record_length(self) -> int:
        """Length of a record (fixed templates), else its minimum (one length byte per variable field)."""
        return self._measured()[0]

    def _measured(self) -> tuple[int, bool]:
        """(record length, variable), worked out once (in C: 88 templates of ~60 fields)."""
        try:
            return self._measures
        except AttributeError:
            lengths = list(map(_LENGTH, self.fields))
            var = lengths.count(VARIABLE_LENGTH)
            got = (sum(lengths) - (VARIABLE_LENGTH - 1) * var, var > 0)
            object.__setattr__(self, "_measures", got)
            return got


class PendingSet(Record):
    """A data set waiting for its template: its bytes and the datagram facts it needs."""

    __slots__ = _fields = (
        "exporter", "domain", "template_id", "data", "received_ms", "export_s", "uptime_ms",
        "version", "sequence",
    )  # fmt: skip

    def __init__(
        self,
        exporter: str,
        domain: int,
        template_id: int,
        data: bytes,
        received_ms: int,
        export_s: int,
        uptime_ms: int,
        version: int,
        sequence: int,
    ) -> None:
        self.exporter, self.domain, self.template_id = exporter, domain, template_id
        self.data, self.received_ms, self.export_s = data, received_ms, export_s
        self.uptime_ms, self.version, self.sequence = uptime_ms, version, sequence


class TemplateCache(Record):
    """Templates, waiting data sets and sampling rates of every (exporter, domain).

    Parameters
    ----------
    max_pending : int
        Data sets kept while waiting for their template (the oldest beyond it are dropped, counted).
    pending_ms : int
        How long a data set waits for its template (by receive time), then it expires (counted).
    max_pending_bytes : int
        The same bound as `max_pending` in bytes (the sets' bytes together).
    """

    __slots__ = (
        "_pending_bytes", "domain_rates", "max_pending", "max_pending_bytes", "pending",
        "pending_ms", "sampler_rates", "serial", "templates",
    )  # fmt: skip
    _fields = (
        "max_pending", "pending_ms", "max_pending_bytes", "templates", "pending", "domain_rates",
        "sampler_rates", "serial",
    )  # fmt: skip

    def __init__(
        self,
        max_pending: int = 4096,
        pending_ms: int = 60_000,
        max_pending_bytes: int = 16 << 20,
        templates: dict[tuple[str, int, int], Template] | None = None,
        pending: deque[PendingSet] | None = None,
        domain_rates: dict[Domain, float] | None = None,
        sampler_rates: dict[tuple[str, int, int], float] | None = None,
        serial: int = 0,
    ) -> None:
        self.max_pending, self.pending_ms = max_pending, pending_ms
        self.max_pending_bytes = max_pending_bytes
        self.templates: dict[tuple[str, int, int], Template] = (
            {} if templates is None else templates
        )
        self.pending: deque[PendingSet] = deque() if pending is None else pending
        #: sampling rate (1-in-N) of a whole domain, from options records without a sampler id
        self.domain_rates: dict[Domain, float] = {} if domain_rates is None else domain_rates
        #: sampling rate of a sampler / selector id within a domain
        self.sampler_rates: dict[tuple[str, int, int], float] = (
            {} if sampler_rates is None else sampler_rates
        )
        #: bumped at every change of a template: lets decoders cache per-template work
        self.serial = serial
        self._pending_bytes = sum(len(p.data) for p in self.pending)

    def add(self, exporter: str, domain: int, template: Template) -> None:
        """Define or redefine a template (a template sent again unchanged changes nothing)."""
        key = (exporter, domain, template.id)
        same = self.templates.get(key) == template
        self.templates[key] = template  # equal: the newest object (decoders compare by identity)
        if not same:
            self.serial += 1

    def withdraw(self, exporter: str, domain: int, template_id: int) -> None:
        """Withdraw one template, or all of the domain (id 2: data templates, 3: options, IPFIX)."""
        if template_id in (2, 3):
            options = template_id == 3
            for key in [
                k
                for k, t in self.templates.items()
                if k[:2] == (exporter, domain) and bool(t.scope_count) == options
            ]:
                del self.templates[key]
        else:
            self.templates.pop((exporter, domain, template_id), None)
        self.serial += 1

    def get(self, exporter: str, domain: int, template_id: int) -> Template | None:
        """The template in force, or None."""
        return self.templates.get((exporter, domain, template_id))

    def wait(self, item: PendingSet) -> int:
        """Keep a data set until its template comes; returns how many older ones it pushed out."""
        self.pending.append(item)
        self._pending_bytes += len(item.data)
        dropped = 0
        while len(self.pending) > self.max_pending or self._pending_bytes > self.max_pending_bytes:
            self._pending_bytes -= len(self.pending.popleft().data)
            dropped += 1
        return dropped

    def release(self, exporter: str, domain: int, template_id: int) -> list[PendingSet]:
        """Take the waiting data sets of a template that has just come."""
        key = (exporter, domain, template_id)
        out = [p for p in self.pending if (p.exporter, p.domain, p.template_id) == key]
        if out:
            self.pending = deque(
                p for p in self.pending if (p.exporter, p.domain, p.template_id) != key
            )
            self._pending_bytes -= sum(len(p.data) for p in out)
        return out

    def expire(self, now_ms: int) -> int:
        """Drop the data sets that waited longer than :attr:`pending_ms`; returns how many."""
        n = 0
        while self.pending and now_ms - self.pending[0].received_ms > self.pending_ms:
            self._pending_bytes -= len(self.pending.popleft().data)
            n += 1
        return n

    def rate(self, exporter: str, domain: int, sampler: int | None) -> float | None:
        """The sampling rate that applies: the sampler's, else the domain's, else None (unknown)."""
        if sampler is not None:
            found = self.sampler_rates.get((exporter, domain, sampler))
            if found is not None:
                return found
        return self.domain_rates.get((exporter, domain))

    def to_json(self) -> str:
        """The templates and sampling rates as JSON (waiting data sets are not kept)."""
        return json.dumps(
            {
                "version": 1,
                "templates": [
                    [ex, dom, t.id, t.scope_count, [list(f) for f in t.fields]]
                    for (ex, dom, _), t in self.templates.items()
                ],
                "domain_rates": [[ex, dom, r] for (ex, dom), r in self.domain_rates.items()],
                "sampler_rates": [
                    [ex, dom, s, r] for (ex, dom, s), r in self.sampler_rates.items()
                ],
            }
        )

    @classmethod
    def from_json(cls, text: str, **kwargs: Any) -> TemplateCache:
        """A cache from :meth:`to_json`'s text (``kwargs``: :attr:`max_pending`, :attr:`pending_ms`)."""
        data = json.loads(text)
        cache = cls(**kwargs)
        for ex, dom, tid, scope, fields in data.get("templates", []):
            cache.add(
                str(ex), int(dom), Template(int(tid), tuple(tuple(f) for f in fields), int(scope))
            )
        for ex, dom, r in data.get("domain_rates", []):
            cache.domain_rates[(str(ex), int(dom))] = float(r)
        for ex, dom, s, r in data.get("sampler_rates", []):
            cache.sampler_rates[(str(ex), int(dom), int(s))] = float(r)
        return cache


class NetFlowState(Record):
    """What a NetFlow / IPFIX decoder carries from batch to batch: templates and sequence numbers.

    Attributes
    ----------
    templates : TemplateCache
        Templates, waiting data sets, sampling rates.
    datagrams : SequenceTracker
        NetFlow v9 packet sequence per (exporter, source id).
    records : dict
        Flow-record sequence per (exporter, 0) (IPFIX: one counter per exporter, as Open
        vSwitch shares it over its observation domains; NetFlow v5: per engine):
        (last sequence, records in that datagram, numbering) where numbering is 0 unknown,
        1 "records before this datagram" (RFC 7011, Cisco v5), 2 "index of its last record"
        (Open vSwitch's NetFlow v5).
    """

    __slots__ = ("datagrams", "records", "templates")
    _fields = ("templates", "datagrams", "records")

    def __init__(
        self,
        templates: TemplateCache | None = None,
        datagrams: SequenceTracker | None = None,
        records: dict[tuple[str, int], tuple[int, int, int]] | None = None,
    ) -> None:
        self.templates = TemplateCache() if templates is None else templates
        self.datagrams = SequenceTracker() if datagrams is None else datagrams
        self.records: dict[tuple[str, int], tuple[int, int, int]] = (
            {} if records is None else records
        )

    def to_json(self) -> str:
        """What survives a collector restart: the templates and sampling rates."""
        return self.templates.to_json()

    @classmethod
    def from_json(cls, text: str) -> NetFlowState:
        """A state from :meth:`to_json` (sequence tracking starts afresh)."""
        return cls(TemplateCache.from_json(text))
