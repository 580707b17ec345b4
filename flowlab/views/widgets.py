"""ipywidgets controls for the notebooks: pick a focus and a time window, see the answer.

The function that answers is any ``f(flows, focus) -> DataFrame | chart``; the
widget only filters the window and calls it, so the logic stays in the
library where it is tested.

Examples
--------
>>> import datetime as dt, polars as pl
>>> f = pl.DataFrame({"time": [dt.datetime(2025, 1, 1, h, tzinfo=dt.timezone.utc) for h in range(3)],
...                   "server_ip": ["a", "b", "a"], "bytes": [1, 2, 3]})
>>> ui = explorer(f, lambda fl, focus: fl.filter(pl.col("server_ip") == focus),
...               choices=["a", "b"], steps=3)
>>> ui.focus.value, len(ui.window.options)
('a', 3)
>>> ui.answer(ui.current(), ui.focus.value).height
2
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

__all__ = ["Explorer", "choices_of", "explorer"]


def choices_of(flows: pl.DataFrame, column: str, *, by: str = "bytes", n: int = 50) -> list[str]:
    """The `n` most important values of `column` (by summed `by`), for a dropdown."""
    return (
        flows.filter(pl.col(column).is_not_null())
        .group_by(column)
        .agg(pl.col(by).sum())
        .sort(by, descending=True)
        .head(n)[column]
        .cast(pl.String)
        .to_list()
    )


@dataclass
class Explorer:
    """The widgets and the answer area; ``widget`` is what a notebook displays."""

    flows: pl.DataFrame
    answer: Callable[[pl.DataFrame, str], Any]
    focus: Any
    window: Any
    output: Any
    widget: Any

    def current(self) -> pl.DataFrame:
        """The flows inside the selected window."""
        lo, hi = self.window.value
        return self.flows.filter(pl.col("time").is_between(lo, hi, closed="both"))

    def refresh(self) -> Any:
        """Recompute the answer for the current focus and window, show it, and return it.

        The answer replaces the output area's content directly (no output capture), which
        also works when no front end is attached (headless execution).
        """
        result = self.answer(self.current(), self.focus.value)
        self.output.outputs = ()
        self.output.append_display_data(result)
        return result

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def explorer(
    flows: pl.DataFrame,
    answer: Callable[[pl.DataFrame, str], Any],
    *,
    choices: Sequence[str],
    focus: str | None = None,
    label: str = "focus",
    steps: int = 48,
) -> Explorer:
    """A dropdown for the focus and a range slider for the window, driving `answer`.

    Parameters
    ----------
    flows : DataFrame
        Flows to explore (needs ``time``).
    answer : callable
        ``answer(flows_in_window, focus)`` returning what to show.
    choices : sequence of str
        Values offered in the dropdown (see :func:`choices_of`).
    focus : str, optional
        The initial focus (default: the first choice).
    steps : int
        Number of positions on the time slider.
    """
    import ipywidgets as w

    times = flows["time"]
    lo, hi = times.min(), times.max()
    if not (isinstance(lo, dt.datetime) and isinstance(hi, dt.datetime)):
        options: list[tuple[str, Any]] = [("(no data)", None)]
    else:
        step = (hi - lo) / max(steps - 1, 1)
        marks = [lo + step * i for i in range(steps - 1)] + [hi]
        options = [(m.strftime("%m-%d %H:%M:%S"), m) for m in dict.fromkeys(marks)]
    values = list(choices)
    first = focus if focus in values else (values[0] if values else None)
    focus_w = w.Dropdown(options=values, value=first, description=label)
    window_w = w.SelectionRangeSlider(
        options=options,
        index=(0, len(options) - 1),
        description="window",
        layout=w.Layout(width="90%"),
    )
    out = w.Output()
    box = w.VBox([w.HBox([focus_w]), window_w, out])
    ui = Explorer(flows, answer, focus_w, window_w, out, box)
    focus_w.observe(lambda _change: ui.refresh(), names="value")
    window_w.observe(lambda _change: ui.refresh(), names="value")
    return ui
