"""notebooks/05-policy-and-change.ipynb executes end to end, headless, on the demo and on the real
Elasticsearch test server (the demo flows in ElastiFlow layout), with the execution helpers of
test_execute.py, and finds what the demo hides: the shop's frontend, a new client of
payments-api in the second half hour, is newly denied by the policies proposed from the first.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.notebooks.test_execute import (
    _all_text,
    _execute,
    _execute_on_elasticsearch,
    _outputs,
    elastiflow_index,
)

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]
NAME = "05-policy-and-change"
__all__ = ["elastiflow_index"]  # the fixture, imported to be used here


def _check(nb: dict[str, Any], out_dir: Path) -> None:
    text = _all_text(nb)
    m = re.search(r"([\d,]+) flow records from", text)
    assert m and int(m.group(1).replace(",", "")) > 10_000, text[:500]
    assert "enriched with Kubernetes names" in text
    policies = _outputs(nb, "answer-policies")
    assert "Proposal(policies=2" in policies
    assert "name: flowlab-payments-api" in policies and "app: cart" in policies
    evidence = _outputs(nb, "answer-evidence")
    assert "miss_chance" in evidence and "shop/cart" in evidence
    current = _outputs(nb, "answer-current")
    assert "3 NetworkPolicies in the inventory" in current and "deny 0" in current
    denied = _outputs(nb, "answer-denied")
    lines = [x for x in denied.splitlines() if x.startswith("newly denied: ")]
    assert lines, denied[:1000]
    assert all(x.startswith("newly denied: shop/frontend -> ") for x in lines), lines
    assert "no ingress rule admits shop/frontend on 8443/TCP" in denied
    changes = _outputs(nb, "answer-changes")
    # `new` from diff_windows; `appeared` once the notebook uses the noise-aware diff (noise=True)
    assert re.search(r"(new|appeared): shop/frontend -> payments/payments-api", changes), changes[
        :1000
    ]
    docs = list(yaml.safe_load_all((out_dir / "policies.yaml").read_text()))
    assert {d["metadata"]["name"] for d in docs} == {"flowlab-payments-api", "flowlab-postgres"}
    assert "shop/frontend" in (out_dir / "newly-denied.csv").read_text()
    assert (out_dir / "evidence.csv").read_text().count("\n") == 4


def test_policy_notebook_on_demo(tmp_path: Path) -> None:
    out_dir = tmp_path / NAME
    nb = _execute(NAME, {"SOURCE": "demo", "OUT_DIR": str(out_dir)}, "demo", {})
    _check(nb, out_dir)


@pytest.mark.elasticsearch
def test_policy_notebook_on_elasticsearch(tmp_path: Path, elastiflow_index: dict[str, str]) -> None:
    out_dir = tmp_path / NAME
    nb = _execute_on_elasticsearch(NAME, out_dir, elastiflow_index)
    _check(nb, out_dir)
    assert "from elasticsearch" in _all_text(nb)
