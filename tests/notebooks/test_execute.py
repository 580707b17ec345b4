"""Every curated notebook executes end to end, headless, twice: on the demo data, and on the real
Elasticsearch test server loaded with the demo flows in ElastiFlow 3.x layout. Each run asserts on
the outputs (the answers the seed's dashboards gave), not only on the absence of errors.

A failing run leaves the executed notebook as ``test-artifacts/notebooks/<name>-<source>-err.ipynb``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowlab.views.offline import VEGA_MIME

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "test-artifacts" / "notebooks"
pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

NAMES = [
    "00-quickstart",
    "01-client-server",
    "02-traffic-details",
    "03-etcd-clients",
    "04-flow-records",
]


def _outputs(nb: dict[str, Any], tag: str) -> str:
    """All text a tagged cell printed or displayed."""
    texts = []
    for cell in nb["cells"]:
        if tag not in cell.get("metadata", {}).get("tags", []):
            continue
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream":
                texts.append("".join(out["text"]))
            elif "data" in out:
                data = out["data"]
                texts.append("".join(data.get("text/html", data.get("text/plain", ""))))
    assert texts, f"cell tagged {tag!r} produced no output"
    return "\n".join(texts)


def _mimetypes(nb: dict[str, Any], tag: str) -> set[str]:
    """The mimetypes a tagged cell displayed."""
    return {
        mime
        for cell in nb["cells"]
        if tag in cell.get("metadata", {}).get("tags", [])
        for out in cell.get("outputs", [])
        for mime in out.get("data", {})
    }


def _all_text(nb: dict[str, Any]) -> str:
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream":
                parts.append("".join(out["text"]))
            elif "data" in out:
                parts.append("".join(out["data"].get("text/plain", "")))
    return "\n".join(parts)


def _execute(name: str, params: dict[str, Any], label: str, env: dict[str, str]) -> dict[str, Any]:
    import papermill as pm

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out = ARTIFACTS / f"{name}-{label}.ipynb"
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), saved.get("PYTHONPATH") or os.environ.get("PYTHONPATH")) if p
    )
    try:
        pm.execute_notebook(
            str(NOTEBOOKS / f"{name}.ipynb"),
            str(out),
            parameters=params,
            cwd=str(ARTIFACTS),
            progress_bar=False,
            kernel_name="python3",
            execution_timeout=600,
        )
    except Exception:
        if out.exists():
            shutil.copy(out, out.with_name(f"{name}-{label}-err.ipynb"))
        raise
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    nb = json.loads(out.read_text())
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors, errors
    return nb


def _check(name: str, nb: dict[str, Any], out_dir: Path) -> None:
    """The answers each notebook must give on the demo cluster, whatever the source."""
    text = _all_text(nb)
    m = re.search(r"([\d,]+) flow records from", text)
    assert m and int(m.group(1).replace(",", "")) > 10_000, text[:500]
    assert "enriched with Kubernetes names" in text
    if name == "00-quickstart":
        # charts are Vega JSON (drawn offline by JupyterLab), not HTML loading Vega from a CDN
        assert _mimetypes(nb, "answer-services") == {VEGA_MIME, "text/plain"}
        assert VEGA_MIME in _mimetypes(nb, "answer-explorer")
        nodes = re.search(r"(\d+) nodes, (\d+) edges", _outputs(nb, "answer-graph"))
        assert nodes and int(nodes.group(1)) >= 10 and int(nodes.group(2)) >= 10
        for f in ("report.html", "workloads.graphml", "workloads.json", "services.svg"):
            assert (out_dir / f).stat().st_size > 0, f
    elif name == "01-client-server":
        answer = _outputs(nb, "answer-clients")
        m = re.search(r"(\d+) clients of", answer)
        assert m and int(m.group(1)) >= 10, answer[:400]
        assert "openshift-monitoring" in answer  # clients are named, not only IPs
        assert (out_dir / "api-clients.csv").read_text().count("\n") >= 11
    elif name == "02-traffic-details":
        assert VEGA_MIME in _mimetypes(nb, "answer-explorer")
        answer = _outputs(nb, "answer-peers")
        assert "talked with 3 peers" in answer
        assert "10.129.2.9" in answer and "prometheus-k8s-0" in answer
        assert "10.129.2.9" in (out_dir / "peers.csv").read_text()
    elif name == "03-etcd-clients":
        _outputs(nb, "answer-originators")
        csv = (out_dir / "etcd-originators.csv").read_text().splitlines()
        # exactly the three master hosts originate etcd-client traffic, and on each of them the
        # kube-apiserver pod is named among the host-network pods that could have sent it
        assert len(csv) - 1 == 3, csv
        assert all(line.startswith("10.0.0.") for line in csv[1:]), csv
        assert all("openshift-kube-apiserver/kube-apiserver-" in line for line in csv[1:]), csv
    elif name == "04-flow-records":
        answer = _outputs(nb, "answer-records")
        assert "10.129.2.9" in answer
        m = re.search(r"([\d,]+) matching records", answer)
        assert m and int(m.group(1).replace(",", "")) > 100
        assert (out_dir / "records.parquet").stat().st_size > 0


@pytest.mark.parametrize("name", NAMES)
def test_notebook_on_demo(name: str, tmp_path: Path) -> None:
    out_dir = tmp_path / name
    nb = _execute(name, {"SOURCE": "demo", "OUT_DIR": str(out_dir)}, "demo", {})
    _check(name, nb, out_dir)


@pytest.fixture(scope="module")
def elastiflow_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The demo flows written into the real test server as ElastiFlow 3.5 documents."""
    url = os.environ.get("FLOWLAB_TEST_ES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail(
                "CI is set but FLOWLAB_TEST_ES_URL is not: the Elasticsearch server is missing"
            )
        pytest.skip("FLOWLAB_TEST_ES_URL is not set (scripts/elasticsearch.sh start; eval ... env)")
    import flowlab.elastic as fe
    from flowlab import demo

    user = os.environ.get("FLOWLAB_TEST_ES_USERNAME") or None
    password = os.environ.get("FLOWLAB_TEST_ES_PASSWORD") or None
    es = fe.connect(url, username=user, password=password)
    data = demo.load()
    prefix = f"elastiflow-nb{uuid.uuid4().hex[:8]}-"
    result = fe.write_flows(es, data.flows, prefix, layout="elastiflow", refresh=True)
    assert result.written == data.flows.height and result.rejected == 0, result
    inventory = tmp_path_factory.mktemp("inventory") / "inventory.json"
    inventory.write_text(json.dumps(data.inventory))
    env = {
        "FLOWLAB_ES_URL": url,
        "FLOWLAB_ES_USERNAME": user or "",
        "FLOWLAB_ES_PASSWORD": password or "",
    }
    try:
        yield {"index": prefix + "*", "inventory": str(inventory), **env}
    finally:
        es.indices.delete(index=prefix + "*", ignore_unavailable=True)


def _execute_on_elasticsearch(
    name: str, out_dir: Path, elastiflow_index: dict[str, str]
) -> dict[str, Any]:
    """Execute notebook `name` on the test server's ElastiFlow index (:func:`elastiflow_index`)."""
    env = {k: v for k, v in elastiflow_index.items() if k.startswith("FLOWLAB_ES_")}
    parameters = {
        "SOURCE": "elasticsearch",
        "INDEX": elastiflow_index["index"],
        "INVENTORY": elastiflow_index["inventory"],
        "OUT_DIR": str(out_dir),
    }
    return _execute(name, parameters, "elasticsearch", env)


@pytest.mark.elasticsearch
@pytest.mark.parametrize("name", NAMES)
def test_notebook_on_elasticsearch(
    name: str, tmp_path: Path, elastiflow_index: dict[str, str]
) -> None:
    out_dir = tmp_path / name
    nb = _execute_on_elasticsearch(name, out_dir, elastiflow_index)
    _check(name, nb, out_dir)
    assert "from elasticsearch" in _all_text(nb)
    # the connection settings came from the environment: no secret reached the notebook
    password = elastiflow_index.get("FLOWLAB_ES_PASSWORD")
    if password:
        stored = (ARTIFACTS / f"{name}-elasticsearch.ipynb").read_text()
        assert password not in stored
