"""Generate flowlab/netflow/_iana.py (the IANA IPFIX information elements) from an ipfix.xml.

The IANA registry "IP Flow Information Export (IPFIX) Entities" as XML; Open vSwitch keeps a copy in
its source (``ofproto/ipfix.xml``, read here from commit d6a632a9 of github.com/openvswitch/ovs)::

    python scripts/netflow_iana.py ipfix.xml > flowlab/netflow/_iana.py
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

NS = "{http://www.iana.org/assignments}"


def main(path: str) -> None:
    root = ET.parse(path).getroot()
    rows = []
    for rec in root.iter(f"{NS}record"):
        eid = rec.findtext(f"{NS}elementId")
        dtype = rec.findtext(f"{NS}dataType")
        name = rec.findtext(f"{NS}name")
        status = rec.findtext(f"{NS}status")
        if not eid or not dtype or not name or not eid.strip().isdigit() or status == "obsolete":
            continue
        rows.append((int(eid), name.strip(), dtype.strip()))
    print(
        '"""IANA IPFIX information elements (id -> name, abstract data type); generated, do not edit.'
    )
    print()
    print("Made by ``scripts/netflow_iana.py`` from the IANA registry as Open vSwitch ships it")
    print("(``ofproto/ipfix.xml``); see :mod:`flowlab.netflow.elements` for how it is used.")
    print('"""')
    print()
    print("#: element id -> (name, IANA abstract data type), RFC 7012 and later assignments")
    print("IANA: dict[int, tuple[str, str]] = {")
    for eid, name, dtype in sorted(rows):
        print(f"    {eid}: ({name!r}, {dtype!r}),")
    print("}")


if __name__ == "__main__":
    main(sys.argv[1])
