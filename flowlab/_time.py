"""Window bounds: absolute (ISO 8601, dates, datetimes) and relative (``now-1h``, ``-15m``).

Every place that takes a window (:func:`flowlab.load`, :func:`flowlab.analysis.where`,
``flowlab report --start/--end``) reads it here, so the same text means the same time
everywhere, and an inverted window is an error everywhere.
"""

from __future__ import annotations

import datetime as dt
import re

from flowlab.exceptions import ConfigError

__all__ = ["TimeLike", "parse_time", "parse_window", "stamp"]

TimeLike = dt.datetime | dt.date | str | None

_RELATIVE = re.compile(r"^(?:now)?\s*(?:([+-])\s*(\d+(?:\.\d+)?)\s*([smhdw]))?$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(value: TimeLike, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """A window bound as an aware UTC datetime.

    Takes ISO 8601 text, a date or datetime (naive = UTC), or a time relative to
    `now` (default: the current time): ``"now"``, ``"now-1h"``, ``"-15m"``,
    ``"-2d"`` (units s, m, h, d, w), as Kibana's time picker writes them.

    Examples
    --------
    >>> parse_time("2025-01-06T09:00:00Z")
    datetime.datetime(2025, 1, 6, 9, 0, tzinfo=datetime.timezone.utc)
    >>> parse_time("now-1h", now=parse_time("2025-01-06T10:00Z"))
    datetime.datetime(2025, 1, 6, 9, 0, tzinfo=datetime.timezone.utc)
    >>> parse_time(None) is None
    True
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        relative = _RELATIVE.match(text) if text.startswith(("now", "-", "+")) else None
        if relative:
            base = now or dt.datetime.now(dt.timezone.utc)
            sign, amount, unit = relative.groups()
            if amount is None:
                return parse_time(base)
            delta = dt.timedelta(seconds=float(amount) * _UNIT[unit])
            return parse_time(base - delta if sign == "-" else base + delta)
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            msg = (
                f"cannot read the time {value!r}: use ISO 8601 (2025-01-06T09:00:00Z) "
                "or a relative time (now-1h, -15m, -2d)"
            )
            raise ConfigError(msg) from exc
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def parse_window(
    start: TimeLike, end: TimeLike, *, now: dt.datetime | None = None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``(start, end)`` parsed with :func:`parse_time`; an empty or inverted window is an error.

    Examples
    --------
    >>> parse_window("2025-01-06T10:30Z", "2025-01-06T09:00Z")
    Traceback (most recent call last):
    ...
    flowlab.exceptions.ConfigError: the window ends before it starts: start 2025-01-06 10:30:00 UTC, end 2025-01-06 09:00:00 UTC; swap them
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    t0, t1 = parse_time(start, now=now), parse_time(end, now=now)
    if t0 is not None and t1 is not None and t1 <= t0:
        what = "ends before it starts" if t1 < t0 else "is empty (start == end)"
        msg = f"the window {what}: start {stamp(t0)}, end {stamp(t1)}"
        raise ConfigError(msg + ("; swap them" if t1 < t0 else ""))
    return t0, t1


def stamp(value: dt.datetime) -> str:
    """`value` for a person: ``2025-01-06 09:00:00 UTC``."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")
