"""Charts that display with no internet, and still display when a saved notebook is reopened.

Altair's default renderer writes HTML that loads Vega from a CDN (offline: "Error
loading script"), and a notebook's HTML outputs are untrusted once it is saved and
reopened (empty outputs). The ``"flowlab"`` renderer avoids both: it compiles the
Vega-Lite spec to a Vega spec with ``vl-convert`` and returns it as
``application/vnd.vega.v5+json``, which JupyterLab (and VS Code) draw with the Vega
they bundle. A JSON output needs no trust and loads no script, so the chart is drawn
offline, when the notebook is reopened, and its click and brush selections still work.

Importing :mod:`flowlab.views` enables the renderer when Altair's renderer is still
the default one (nothing changes outside a notebook: a renderer only acts on display).

:func:`javascript_bundle` is the one place the Vega, Vega-Lite and vega-embed code
comes from for offline HTML files (:func:`flowlab.views.save`, the report, the explorer);
:func:`html_page` writes such a file.

Examples
--------
>>> import altair as alt
>>> chart = alt.Chart(alt.Data(values=[{"a": 1}])).mark_point().encode(x="a:Q")
>>> data, meta = renderer(chart.to_dict())
>>> sorted(data), data[VEGA_MIME]["$schema"]
(['application/vnd.vega.v5+json', 'text/plain'], 'https://vega.github.io/schema/vega/v5.json')
>>> "<script" in html_page([chart.to_dict()], title="one chart")
True
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import altair as alt

from flowlab.exceptions import FlowlabError

__all__ = ["VEGA_MIME", "enable", "html_page", "javascript_bundle", "renderer", "to_vega"]

VEGA_MIME = "application/vnd.vega.v5+json"
"""The mimetype JupyterLab 4 draws natively (its bundled Vega 5 extension)."""

_NAME = "flowlab"


def _vl_convert() -> Any:
    try:
        import vl_convert
    except ImportError as exc:  # pragma: no cover - vl-convert is a dependency of the views
        msg = 'offline charts need vl-convert: pip install "flowlab[notebooks]"'
        raise FlowlabError(msg) from exc
    return vl_convert


def _vl_version() -> str:
    from altair.utils._importers import vl_version_for_vl_convert

    return str(vl_version_for_vl_convert())


@lru_cache(maxsize=1)
def javascript_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (defines ``vegaEmbed``), from vl-convert."""
    bundle: Any = _vl_convert().javascript_bundle  # its stub wrongly requires `snippet`
    return str(bundle(vl_version=_vl_version()))


def to_vega(spec: dict[str, Any] | alt.TopLevelMixin) -> dict[str, Any]:
    """Compile a Vega-Lite spec (or chart) to the Vega spec JupyterLab's Vega 5 draws."""
    vl = spec.to_dict() if isinstance(spec, alt.TopLevelMixin) else spec
    vega: dict[str, Any] = _vl_convert().vegalite_to_vega(vl, vl_version=_vl_version())
    vega["$schema"] = "https://vega.github.io/schema/vega/v5.json"
    return vega


def _describe(spec: dict[str, Any]) -> str:
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(str(t) for t in title)
    return f"<chart: {title}>" if title else "<chart>"


def renderer(spec: dict[str, Any], **metadata: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Altair renderer: the chart as a Vega JSON output (SVG, no action menu) plus plain text."""
    embed = {"renderer": "svg", "actions": False, **metadata.get("embed_options", {})}
    data = {VEGA_MIME: to_vega(spec), "text/plain": _describe(spec)}
    return data, {VEGA_MIME: {"embed_options": embed}}


def enable(*, force: bool = False) -> bool:
    """Register the ``"flowlab"`` Altair renderer and enable it if Altair's is the default.

    ``force=True`` enables it whatever renderer is active. Returns whether it is active.
    """
    if _NAME not in alt.renderers.names():
        alt.renderers.register(_NAME, renderer)
    if force or alt.renderers.active == "default":
        alt.renderers.enable(_NAME)
    return bool(alt.renderers.active == _NAME)


_EMBED = """<script type="text/javascript">
const flowlabCharts = {specs};
Promise.all(flowlabCharts.map((spec, i) => vegaEmbed('#flowlab-chart-' + i, spec,
    {{renderer: 'svg', actions: false}})))
  .then(() => {{ document.body.dataset.rendered = String(flowlabCharts.length); }})
  .catch(err => {{ document.body.dataset.renderError = String(err); console.error(err); }});
</script>"""


def embed_script(specs: Sequence[dict[str, Any]]) -> str:
    """The script that draws `specs` into ``#flowlab-chart-0``, ``-1``... with vega-embed."""
    payload = json.dumps(list(specs)).replace("</", "<\\/")
    return _EMBED.format(specs=payload)


def html_page(
    specs: Sequence[dict[str, Any]], *, title: str = "flowlab", body: str = "", css: str = ""
) -> str:
    """One offline HTML document drawing the Vega-Lite `specs`, JS inlined.

    The charts go into ``<div id="flowlab-chart-0">``... that `body` places, else after it.
    """
    divs = "".join(
        f'<div class="chart" id="flowlab-chart-{i}"></div>'
        for i in range(len(specs))
        if f'id="flowlab-chart-{i}"' not in body
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{css}</style>"
        f'<script type="text/javascript">{javascript_bundle()}</script></head>'
        f"<body>{body}{divs}{embed_script(specs)}</body></html>\n"
    )
