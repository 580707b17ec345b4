"""The report's NetworkPolicy section on the demo."""

from __future__ import annotations

import re
from pathlib import Path

from flowlab import demo
from flowlab.k8s import Inventory
from flowlab.report import report


def test_report_has_the_policy_section(tmp_path: Path) -> None:
    data = demo.load(seconds=600)
    inv = Inventory.from_objects([data.inventory])
    text = report(data.flows, tmp_path / "r.html", inventory=inv).read_text()
    assert '<h2 id="policy">NetworkPolicy proposal</h2>' in text
    m = re.search(r'data-policies="(\d+)" data-rules="(\d+)"', text)
    assert m and int(m.group(1)) >= 10 and int(m.group(2)) > int(m.group(1))
    assert (
        "The cluster&#x27;s own 3 NetworkPolicies" in text
        or "The cluster's own 3 NetworkPolicies" in text
    )
    assert "deny 0 observed connection(s)" in text  # the demo's policies admit its traffic
    # without an inventory there is nothing to select pods by: no section
    bare = report(data.flows, tmp_path / "bare.html").read_text()
    assert 'id="policy"' not in bare
