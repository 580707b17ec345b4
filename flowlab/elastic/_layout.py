"""What the indices of a pattern contain: field capabilities, conflicts, the profile.

Examples
--------
>>> lay = Layout(indices=("a", "b"), types={"flow.service_port": {"keyword": ("a",), "long": ("b",)}})
>>> lay.conflicts()
{'flow.service_port': {'keyword': ('a',), 'long': ('b',)}}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from elasticsearch import Elasticsearch

from flowlab.elastic._errors import translating
from flowlab.elastic.connection import describe
from flowlab.elastic.profiles import (
    PROFILES,
    Profile,
    all_fields,
    custom_profile,
    detect_profile,
    layout_error,
)
from flowlab.exceptions import ConfigError, IndexNotFoundError, UnknownLayoutError

__all__ = ["Layout", "field_caps", "inspect_layout", "resolve_profile", "type_family"]

log = logging.getLogger("flowlab.elastic")

_FAMILIES = {
    "keyword": "string",
    "constant_keyword": "string",
    "wildcard": "string",
    "text": "string",
    "match_only_text": "string",
    "ip": "ip",
    "date": "date",
    "date_nanos": "date",
    "boolean": "boolean",
}


def type_family(es_type: str) -> str:
    """Group mapped types that aggregate together (all integer types are ``number``)."""
    if es_type in _FAMILIES:
        return _FAMILIES[es_type]
    if es_type in {"long", "integer", "short", "byte", "unsigned_long", "double", "float"}:
        return "number"
    return es_type


@dataclass(frozen=True)
class Layout:
    """Field capabilities of an index pattern.

    Attributes
    ----------
    indices : tuple of str
        Concrete indices the pattern matched.
    types : mapping
        Field -> {mapped type -> indices with that type (empty tuple = all)}.
    """

    indices: tuple[str, ...]
    types: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    aggregatable: Mapping[str, bool] = field(default_factory=dict)

    def conflicts(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """Fields mapped with more than one type."""
        return {f: dict(t) for f, t in self.types.items() if len(t) > 1}

    def group_field(self, name: str) -> str | None:
        """The field to aggregate `name` by: itself, else its ``.keyword`` sub-field (text)."""
        for candidate in (name, f"{name}.keyword"):
            if self.aggregatable.get(candidate):
                return candidate
        return None

    def families(self, name: str) -> set[str]:
        """Type families of a field (several = a conflict that breaks aggregations)."""
        return {type_family(t) for t in self.types.get(name, {})}


def field_caps(
    es: Elasticsearch, index: str | Sequence[str], fields: Sequence[str], *, allow_no_indices: bool
) -> dict[str, Any]:
    """Field capabilities of `fields`, asked in URL-sized chunks (7.x takes them only there).

    Returns the merged response body (``indices`` and ``fields``). Call inside
    :func:`~flowlab.elastic._errors.translating`.
    """
    target = index if isinstance(index, str) else ",".join(index)
    path = f"/{quote(target, safe='*,-_.+')}/_field_caps"
    chunks: list[list[str]] = [[]]
    for name in fields:
        if sum(len(n) + 1 for n in chunks[-1]) + len(name) > 1800:
            chunks.append([])
        chunks[-1].append(name)
    merged: dict[str, Any] = {"indices": [], "fields": {}}
    for chunk in chunks:
        params = {
            "fields": ",".join(chunk),
            "ignore_unavailable": "true",
            "allow_no_indices": "true" if allow_no_indices else "false",
        }
        body = es.perform_request(
            "GET", path, params=params, headers={"accept": "application/json"}
        ).body
        merged["indices"] = sorted(set(merged["indices"]) | set(body.get("indices") or ()))
        merged["fields"].update(body.get("fields") or {})
    return merged


def inspect_layout(es: Elasticsearch, index: str, *, extra: tuple[str, ...] = ()) -> Layout:
    """Read the field capabilities of the fields any profile uses (plus `extra`).

    Raises
    ------
    IndexNotFoundError
        When no index matches `index`.
    """
    base = [*all_fields(), *extra]
    names = list(dict.fromkeys([*base, *(f"{n}.keyword" for n in base)]))
    url = describe(es)
    with translating(f"read the mapping of {index!r}", url=url, index=index):
        caps = field_caps(es, index, names, allow_no_indices=False)
    indices = tuple(caps.get("indices") or ())
    if not indices:
        msg = f"no index matches {index!r} on {url}; list the indices with es.cat.indices()"
        raise IndexNotFoundError(msg)
    types: dict[str, dict[str, tuple[str, ...]]] = {}
    aggregatable: dict[str, bool] = {}
    for name, by_type in (caps.get("fields") or {}).items():
        mapped = {t: info for t, info in by_type.items() if t != "unmapped"}
        if not mapped or set(mapped) <= {"object", "nested"}:
            continue
        types[name] = {t: tuple(info.get("indices") or ()) for t, info in mapped.items()}
        aggregatable[name] = all(bool(info.get("aggregatable")) for info in mapped.values())
    return Layout(indices=indices, types=types, aggregatable=aggregatable)


def _all_field_names(es: Elasticsearch, index: str) -> list[str]:
    with translating(f"list the fields of {index!r}", url=describe(es), index=index):
        caps = field_caps(es, index, ["*"], allow_no_indices=True)
    return sorted(n for n in (caps.get("fields") or {}) if not n.startswith("_"))


def resolve_profile(
    es: Elasticsearch,
    index: str,
    profile: str | Profile = "auto",
    field_map: Mapping[str, str] | None = None,
) -> tuple[Profile, Layout]:
    """The profile to read `index` with, restricted to the fields its mapping has.

    Parameters
    ----------
    profile : str or Profile
        ``"auto"`` (detect from the mapping), a built-in name, or a Profile.
    field_map : mapping, optional
        ``{canonical column: stored field}`` overriding or completing the profile.

    Raises
    ------
    IndexNotFoundError, UnknownLayoutError, ConfigError
    """
    extra = tuple(field_map.values()) if field_map else ()
    layout = inspect_layout(es, index, extra=extra)
    mapped = layout.types
    chosen: Profile | None
    if isinstance(profile, Profile):
        chosen = profile
    elif profile == "auto":
        try:
            chosen = detect_profile(mapped)
        except UnknownLayoutError:
            if not field_map:
                raise layout_error(_all_field_names(es, index)) from None
            chosen = None
    elif profile in PROFILES:
        chosen = PROFILES[profile]
    else:
        msg = f"unknown profile {profile!r}; use 'auto', one of {sorted(PROFILES)} or a Profile"
        raise ConfigError(msg)
    if field_map:
        chosen = custom_profile(field_map, base=chosen)
    assert chosen is not None
    missing = [f for f in chosen.required if f not in mapped]
    if missing:
        raise layout_error(_all_field_names(es, index), profile=chosen.name, missing=missing)
    conflicts = layout.conflicts()
    if conflicts:
        log.info(
            "fields mapped with different types across %s: %s",
            index,
            "; ".join(f"{f} {sorted(t)}" for f, t in conflicts.items()),
        )
    return chosen.restricted(mapped), layout
