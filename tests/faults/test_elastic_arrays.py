"""Documents with an array in a single-valued field (issue #11 item 8), from the real server.

Elasticsearch accepts an array for any field (``"src_ip": ["10.0.0.1", "10.0.0.3"]``),
whatever the mapping says. flowlab keeps the first element (what a Kibana table
shows first) and warns with a DataLossWarning naming the field and counting the
documents whose other elements were dropped. It used to load the JSON text of the
array as the address, with no warning.
"""

from __future__ import annotations

from typing import Any

import pytest
from elastic_server import es, es_env, index_name
from elasticsearch import Elasticsearch

import flowlab.elastic as fe
from flowlab.exceptions import DataLossWarning

pytestmark = [pytest.mark.faults, pytest.mark.elasticsearch]
__all__ = ["es", "es_env", "index_name"]  # fixtures used by name


def _doc(layout: str, i: int, src: Any) -> dict[str, Any]:
    when = f"2021-07-01T12:00:{i:02d}.000Z"
    if layout == "flowlab":
        return {"time": when, "src_ip": src, "dst_ip": "10.0.0.2", "bytes": 100, "packets": 1}
    return {
        "@timestamp": when,
        "flow": {"src_addr": src, "dst_addr": "10.0.0.2", "bytes": 100, "packets": 1},
        "node": {"ipaddr": "10.0.0.5"},
    }


@pytest.mark.parametrize("layout", ["flowlab", "elastiflow"])
@pytest.mark.parametrize("mixed", [True, False], ids=["arrays-and-scalars", "arrays-only"])
def test_array_in_a_single_valued_field_keeps_the_first_and_warns(
    es: Elasticsearch, index_name: str, layout: str, mixed: bool
) -> None:
    target = index_name + ("-2021.07.01" if layout == "elastiflow" else "")
    fe.install_template(es, layout=layout, index=index_name + ("-" if layout != "flowlab" else ""))  # type: ignore[arg-type]
    sources: list[Any] = [["10.0.0.1", "10.0.0.3"], ["10.0.0.4", "10.0.0.5", "10.0.0.6"]]
    sources += ["10.0.0.7" if mixed else ["10.0.0.7"], "10.0.0.8" if mixed else ["10.0.0.8"]]
    ops: list[dict[str, Any]] = []
    for i, src in enumerate(sources):
        ops += [{"index": {"_index": target}}, _doc(layout, i, src)]
    assert not es.bulk(operations=ops, refresh=True)["errors"]
    profile = "flowlab" if layout == "flowlab" else "elastiflow3"
    field = "src_ip" if layout == "flowlab" else "flow.src_addr"
    with pytest.warns(DataLossWarning, match=rf"2 documents .*first value was kept.*{field}: 2"):
        flows = fe.load_flows(es, target, profile=profile, progress=False)
    got = sorted(flows["src_ip"].to_list())
    assert got == ["10.0.0.1", "10.0.0.4", "10.0.0.7", "10.0.0.8"]
